"""CodePush: the device protocol of react-native-code-push, code-push-server's management API and
accounts, the package hash and the diff packages it serves."""
