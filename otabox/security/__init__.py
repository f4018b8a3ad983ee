"""Keys, signatures, encryption, rate limits and the validation of untrusted zips."""
