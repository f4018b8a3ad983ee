"""The codepush client protocol (adapter over the domain decision in otabox.decide)."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("codepush", __name__)
