"""``python -m telesim``: the command line of ``telesim.cli``."""

from telesim.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
