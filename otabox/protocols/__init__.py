"""One folder per system otabox speaks, its device protocol and its management API side by side:
native (otabox's own), codepush, capgo, expo, koolbase, openfeature, appdispatch."""
