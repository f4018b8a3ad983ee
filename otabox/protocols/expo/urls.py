"""Where a manifest sends a client for its launch asset: otabox's Expo launch asset route, at a URL
signed for the app and the file (so the answer may be a patch from one of that app's updates)."""
from __future__ import annotations

from ...web import base_url, box

SIGNED_PURPOSE = "expo-launch-asset"


def signed_subject(app_id: int, sha256: str) -> str:
    return f"{app_id}:{sha256}"


def launch_asset_url(app_id: int, app_slug: str, sha256: str, ttl: int) -> str:
    """The signed, expiring URL of a launch asset of this app (assets.py answers it)."""
    query, _ = box().secrets.url_signer.reusable_query(SIGNED_PURPOSE, signed_subject(app_id, sha256), ttl)
    return f"{base_url()}/dl/expo/{app_slug}/{sha256}?{query}"
