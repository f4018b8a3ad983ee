"""Where state lives: the schema, the database and its migrations, blob files, the change signal."""
