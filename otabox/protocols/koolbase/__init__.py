"""Koolbase: the Flutter SDK's update check."""
