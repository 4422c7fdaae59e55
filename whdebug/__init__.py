"""whdebug: replay Karzoun MiniApp webhooks offline and explain why they fail."""

__version__ = "0.1.0"
