"""One configuration object, read from `OTABOX_*` environment variables with sane defaults.

Paths are made absolute once, here, against the working directory the command started in: every
later use (the database URL, blob files, the dashboard) is then independent of the current folder."""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from .errors import OtaboxError


class ConfigError(OtaboxError):
    code = "invalid_config"


SQLITE_FILE = "otabox.db"
"""The embedded database's file name, in the data dir and in a backup."""
DATABASE_SCHEMES = ("sqlite", "postgres", "postgresql")
"""What OTABOX_DATABASE_URL may name: the embedded default, or a PostgreSQL server."""


def _parse(name: str, raw: str, default):
    if isinstance(default, bool):
        value = raw.strip().lower()
        if value not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            raise ConfigError(f"OTABOX_{name} must be true or false (1/0, yes/no), not {raw!r}")
        return value in ("1", "true", "yes", "on")
    try:
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
    except ValueError:
        kind = "a whole number" if isinstance(default, int) else "a number"
        raise ConfigError(f"OTABOX_{name} must be {kind}, not {raw!r}") from None
    return raw


RANGES = {"port": (0, 65535), "threads": (1, 1024), "workers": (1, 64), "events_per_app": (1, 10_000_000)}
"""Settings whose values outside these bounds would crash the server or leave it answering nobody
(no thread to run a request); `serve` has an option of the same name for each."""


def _check_ranges(config) -> None:
    for name, (low, high) in RANGES.items():
        value = getattr(config, name)
        if not low <= value <= high:
            raise ConfigError(f"--{name} / OTABOX_{name.upper()} must be from {low} to {high}, not {value}")


def _env(name: str, default):
    raw = os.environ.get("OTABOX_" + name)
    if raw is None or raw == "":
        return default
    return _parse(name, raw, default)


def absolute(path) -> Path:
    """`~` expanded and made absolute against the current directory (symlinks kept as given)."""
    return Path(os.path.abspath(Path(path).expanduser()))


@dataclasses.dataclass
class Config:
    data_dir: Path = Path("data")
    host: str = "127.0.0.1"
    port: int = 8080
    threads: int = 8
    workers: int = 1
    database_url: str = ""
    storage_url: str = ""
    s3_endpoint_url: str = ""
    cdn_base_url: str = ""
    s3_connect_timeout: float = 5.0
    s3_read_timeout: float = 20.0
    s3_max_attempts: int = 3
    secret_key: str = dataclasses.field(default="", repr=False)
    public_url: str = ""
    url_ttl: int = 3600
    expo_asset_url_ttl: int = 30 * 86400
    """Expo manifests' asset URLs: a cached manifest's assets must stay fetchable (the spec), so they
    live as long as a client may keep a manifest, not an hour."""
    upload_ttl: int = 3600
    max_bundle_mb: int = 100
    max_json_kb: int = 2048
    max_device_json_kb: int = 64
    """A device's update check, status report, channel request or flag evaluation counts; event
    batches may be 16 times that, health reports 8 times (ops/guard.py says why)."""
    max_uncompressed_mb: int = 1024
    max_zip_entries: int = 20000
    device_flush_seconds: float = 1.0
    max_buffered_devices: int = 100_000
    stale_serving_limit: int = 21600
    static_dir: Path | None = None
    metrics_token: str = ""
    trusted_proxy: str = ""
    client_rate_per_minute: int = 120
    auth_failures_per_minute: int = 20
    api_requests_per_hour: int = 1000
    anonymous_requests_per_hour: int = 60
    login_attempts_per_minute: int = 10
    login_failures_per_account: int = 5
    login_failures_per_address: int = 20
    login_max_backoff_seconds: int = 300
    session_idle_seconds: int = 8 * 3600
    session_lifetime_seconds: int = 7 * 86400
    address_rate_per_minute: int = 3000
    event_kb_per_device_per_day: int = 64
    event_mb_per_address_per_day: int = 16
    new_devices_per_address_per_day: int = 10_000
    connection_limit: int = 1000
    idle_timeout: int = 30
    max_concurrent_ingestions: int = 2
    max_upload_bodies: int = 8
    max_zip_ratio: int = 100
    metrics_public: bool = False
    allowed_hosts: str = ""
    policy_interval: float = 30.0
    policy_unattested_devices: int = 10
    policy_devices_per_network: int = 3
    health_retention_days: int = 90
    device_retention_days: int = 180
    """Devices not seen for this long lose their row (pinned ones keep it); their daily-active rows
    and events go with the rest of the telemetry, at health_retention_days."""
    contexts_per_app: int = 100_000
    context_mb_per_app: int = 64
    events_per_app: int = 10_000
    webhook_delivery: bool = True
    webhook_allow_private: bool = False
    webhook_timeout_seconds: float = 10.0
    webhook_max_attempts: int = 6
    webhook_retry_seconds: float = 30.0
    patch_bases: int = 5
    patch_max_input_mb: int = 16
    patch_interval: float = 15.0

    @classmethod
    def from_env(cls, **overrides) -> "Config":
        """Build the config from the environment; explicit (non-None) overrides win."""
        values = {}
        for field in dataclasses.fields(cls):
            if field.name == "data_dir":
                values[field.name] = Path(_env("DATA_DIR", "data"))
            elif field.name == "static_dir":
                raw = os.environ.get("OTABOX_STATIC_DIR")
                values[field.name] = Path(raw) if raw else None
            else:
                values[field.name] = _env(field.name.upper(), field.default)
        values.update({k: v for k, v in overrides.items() if v is not None})
        config = cls(**values)
        scheme = config.database_url.split("://", 1)[0] if config.database_url else "sqlite"
        if scheme not in DATABASE_SCHEMES:
            raise ConfigError(f"OTABOX_DATABASE_URL must start with sqlite:/// or postgresql:// (not {scheme}://)",
                              code="unsupported_database")
        _check_ranges(config)
        config.data_dir = absolute(config.data_dir)
        if config.static_dir is not None:
            config.static_dir = absolute(config.static_dir)
        return config

    @property
    def sqlite_file(self) -> Path:
        """Where the embedded database lives (in use unless OTABOX_DATABASE_URL names another)."""
        return self.data_dir / SQLITE_FILE

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.sqlite_file}"

    @property
    def max_bundle_bytes(self) -> int:
        return self.max_bundle_mb * 1024 * 1024

    @property
    def max_uncompressed_bytes(self) -> int:
        return self.max_uncompressed_mb * 1024 * 1024

    @property
    def dashboard_dir(self) -> Path:
        """OTABOX_STATIC_DIR, else static/ of the checkout this package runs from, else the copy a
        wheel or sdist installs inside the package (`otabox/static`, see setup.py)."""
        if self.static_dir:
            return self.static_dir
        package = Path(__file__).resolve().parent
        checkout = package.parent
        if (checkout / "pyproject.toml").is_file() and (checkout / "static" / "index.html").is_file():
            return checkout / "static"
        return package / "static"
