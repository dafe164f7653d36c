"""``python -m clsaudit``: the same entry point as the console script."""

from clsaudit.cli import main

if __name__ == "__main__":
    main()
