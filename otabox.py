"""Launcher so that `python otabox.py serve` works from a checkout without installing."""
from otabox.cli import main

if __name__ == "__main__":
    main()
