"""The domain: which bundle a device gets, and every change to apps, channels, bundles, releases and devices."""
