"""Widgets of the main screen, one family per module, grouped by screen area."""
