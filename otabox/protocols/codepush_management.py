"""The code-push-server management API (what the code-push CLI calls), mapped onto apps and channels."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("codepush_management", __name__)
