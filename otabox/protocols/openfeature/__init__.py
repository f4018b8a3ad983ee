"""OpenFeature: flag evaluation over OFREP."""
