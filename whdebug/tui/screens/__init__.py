"""Modal screens: prompts for a secret, a filter, a path or URL, confirmations and results."""
