"""otabox's own client protocol: the update check, download events and health reports."""
