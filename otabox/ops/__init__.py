"""Running the box: backups, maintenance, metrics and the access log."""
