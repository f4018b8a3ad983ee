"""Expo Updates: the manifest protocol and the reader of `npx expo export` output."""
