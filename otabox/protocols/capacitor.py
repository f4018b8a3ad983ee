"""The capacitor client protocol (adapter over the domain decision in otabox.decide)."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("capacitor", __name__)
