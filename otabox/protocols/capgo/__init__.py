"""Capgo: the capacitor-updater device protocol (updates, stats, channel_self)."""
