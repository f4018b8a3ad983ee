"""AppDispatch: health reports from `@appdispatch/react-native` (and otabox's own clients)."""
