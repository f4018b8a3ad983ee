"""otabox: a self-hosted over-the-air update server for mobile apps."""

__version__ = "0.2.0"
