"""psycopg-binary for the otabox binary. Takes the place of the hook in pyinstaller-hooks-contrib, which
names the module `psycopg_binary._uuid` for the releases that have it; the pinned one (3.3.9) loads UUIDs
inside `_psycopg` and has no such module, so that hook's only effect was a warning in every build."""
hiddenimports: list[str] = []
