"""Launcher so that `python otabox.py serve` works from a checkout without installing, and the
one-file binary's entry point (`freeze_support`: the patch maker's bsdiff child is this binary too)."""
import multiprocessing

from otabox.cli import main

if __name__ == "__main__":
    multiprocessing.freeze_support()
    main(prog_name="otabox")  # the command's name in its usage lines, not this file's
