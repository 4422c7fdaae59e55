"""The `whdebug` commands, one module per command or small group (see `whdebug.cli.COMMANDS`)."""
