"""Every rich rendering of the CLI, one module per command or family of commands."""
