"""python -m whdebug."""

from whdebug.cli import main

if __name__ == "__main__":
    main()
