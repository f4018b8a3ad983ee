"""Python entry points to the Node Expo Updates conformance harness (tests/node/expo_harness.mjs)."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

NODE_DIR = Path(__file__).parent / "node"
HARNESS = NODE_DIR / "expo_harness.mjs"


class HarnessError(RuntimeError):
    pass


def _run_harness(*args: str, timeout: float) -> dict:
    completed = subprocess.run(
        ["node", str(HARNESS), *args],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if completed.returncode != 0:
        raise HarnessError(f"expo harness {args[0]} failed ({completed.returncode}): {completed.stderr.strip()}")
    return json.loads(completed.stdout)


def node_keygen(directory: str | Path, *, timeout: float = 60) -> dict:
    """Generate an RSA key pair and a self-signed code signing certificate with Expo's library.

    Returns {"privateKey": path, "publicKey": path, "certificate": path} (absolute PEM paths).
    """
    return _run_harness("keygen", str(directory), timeout=timeout)


def node_check(url: str, headers: dict[str, str], certificate: str | Path | None = None, *, timeout: float = 60) -> dict:
    """Request a manifest as an expo-updates client would and report what a client would see.

    Returns {"status", "headers", "noOp", "parts": [{"name", "headers", "body", "rawBody",
    "signature"?: {"present", "keyid", "alg", "valid"}}], "manifest"?, "directive"?,
    "assets"?: [{"label", "key", "url", "status", "hash", "hashOk", "size"}],
    "signatureValid": bool | None, "assetsVerified": bool | None, "errors": [str]}.
    """
    args = ["check", url, json.dumps(headers)]
    if certificate is not None:
        args.append(str(certificate))
    return _run_harness(*args, timeout=timeout)
