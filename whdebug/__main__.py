"""python -m whdebug."""

from whdebug.cli import main

main()
