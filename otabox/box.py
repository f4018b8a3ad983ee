"""The appliance: one object holding the configuration, database, storage, secrets and caches.

This is the composition root (with app.py): it may import every layer, and nothing imports it. The
web app and the CLI both build one; domain functions receive what they need from it."""
from __future__ import annotations

import contextlib
import functools
import os

import peewee

from .config import Config, ConfigError
from .core.bundles import Ingestor
from .core.devices import DeviceTracker
from .core.flag_contexts import FlagRecorder
from .core.flags import FlagCache
from .core.health import HealthRecorder
from .core.telemetry import EventRing
from .core.serving import ServingCache
from .core.transfers import TransferRecorder
from .errors import OtaboxError
from .ops.maintenance import janitor
from .ops.metrics import Metrics
from .ops.patches import PatchMaker
from .ops.scheduler import PolicyScheduler
from .ops.webhooks import WebhookSender
from .protocols.codepush import package as codepush_package
from .protocols.expo import patches as expo_patches
from .protocols.expo import updates as expo
from .protocols.native import patches as native_patches
from .security.ratelimit import EventBudget, FailureBackoff, TokenBucketLimiter, WindowLimiter
from .security.sealing import load_sealer
from .security.signing import ServerSecrets
from .security.usage import UsageRecorder
from .store.blobs import FileSystemBlobStore, Staging
from .store.db import PostgresChangeSignal, is_sqlite, open_database
from .store.generation import GenerationSignal, publish_pending
from .store.secrets import DatabaseSecretStore, FileSecretStore, check_secret_key


def open_blob_store(config: Config):
    """Bundle files in `<data dir>/blobs`, or in the bucket OTABOX_STORAGE_URL names (which must exist)."""
    if config.storage_url:
        from .store.s3 import S3BlobStore, S3Timeouts

        try:
            store = S3BlobStore(config.storage_url, config.s3_endpoint_url, config.cdn_base_url,
                                timeouts=S3Timeouts.of(config))
        except ValueError as exc:
            raise ConfigError(f"OTABOX_STORAGE_URL: {exc}") from None
        store.require_bucket()
        return store
    return FileSystemBlobStore(config.data_dir / "blobs")


def open_secret_store(config: Config, db):
    """0600 files in `<data dir>/secrets`, or, with OTABOX_SECRET_KEY, sealed rows in the database
    (required when the database is shared: processes on other machines must sign and check alike)."""
    files = FileSecretStore(config.data_dir / "secrets")
    if not config.secret_key:
        if not is_sqlite(db):
            raise ConfigError("OTABOX_SECRET_KEY is required with a database server: every otabox process on it "
                              "must share the URL- and bundle-signing keys (set the same key on each; "
                              "`otabox secret-key generate` makes one)")
        return files
    shared = DatabaseSecretStore(config.secret_key)
    with db.connection_context():
        shared.import_files(files)
    return shared


class DataDirError(OtaboxError):
    code = "data_dir_unusable"


@contextlib.contextmanager
def data_dir_access(data_dir):
    """Turn a data directory otabox may not read or write into one sentence that says what to do."""
    try:
        yield
    except (OSError, peewee.OperationalError) as exc:
        if isinstance(exc, peewee.OperationalError) and not any(
                words in str(exc) for words in ("unable to open", "readonly")):
            raise
        reason = (getattr(exc, "strerror", None) or str(exc)).lower()
        where = getattr(exc, "filename", None) or data_dir
        raise DataDirError(f"cannot use the otabox data directory {data_dir}: {reason} ({where}); run otabox as the "
                           "user that owns it, or fix its permissions") from None


class Box:
    def __init__(self, config: Config, schema: str = "upgrade"):
        """`schema`: what to do with the database's schema (see store.db.open_database)."""
        self.config = config
        if config.secret_key:
            check_secret_key(config.secret_key)
        with data_dir_access(config.data_dir):
            config.data_dir.mkdir(parents=True, exist_ok=True)
            os.chmod(config.data_dir, 0o700)
            self.db, self.upgrade = open_database(config.db_url, schema, config.secret_key)
            self.secret_store = open_secret_store(config, self.db)
            self.secrets = ServerSecrets(self.secret_store)
            self.sealer = load_sealer(self.secret_store)
            self.staging = Staging(config.data_dir / "tmp")
            self.store = open_blob_store(config)
            self.generation_signal = (GenerationSignal(config.data_dir / "generation") if is_sqlite(self.db)
                                      else PostgresChangeSignal(self.db))
        self.serving = ServingCache(self.generation_signal, config.stale_serving_limit)
        self.flags = FlagCache()
        self.flag_recorder = FlagRecorder(config.device_flush_seconds, config.contexts_per_app,
                                          config.context_mb_per_app * 1024 * 1024)
        self.client_limiter = TokenBucketLimiter(config.client_rate_per_minute)
        self.auth_failure_limiter = TokenBucketLimiter(config.auth_failures_per_minute)
        self.api_limiter = WindowLimiter(config.api_requests_per_hour)
        self.anonymous_limiter = WindowLimiter(config.anonymous_requests_per_hour)
        self.login_limiter = TokenBucketLimiter(config.login_attempts_per_minute)
        self.account_sign_in_failures = FailureBackoff(config.login_failures_per_account,
                                                       config.login_max_backoff_seconds)
        self.address_sign_in_failures = FailureBackoff(config.login_failures_per_address,
                                                       config.login_max_backoff_seconds)
        self.usage = UsageRecorder()
        self.address_limiter = TokenBucketLimiter(config.address_rate_per_minute)
        self.event_budget = EventBudget(config.event_kb_per_device_per_day * 1024,
                                        config.event_mb_per_address_per_day * 1024 * 1024)
        self.tracker = DeviceTracker(config.device_flush_seconds, config.max_buffered_devices,
                                     config.new_devices_per_address_per_day)
        self.health = HealthRecorder(config.device_flush_seconds, self.tracker.flush)
        self.transfers = TransferRecorder(config.device_flush_seconds)
        self.events = EventRing(config.device_flush_seconds, config.events_per_app)
        self.metrics = Metrics(self.serving, {"devices": self.tracker, "flags": self.flag_recorder},
                               {"events": self.event_budget, "new_devices": self.tracker.new_devices})
        self.ingestor = Ingestor(self, describers={"zip": codepush_package.describe_zip,
                                                   "expo": functools.partial(expo.describe_upload, self)})
        self.janitor = janitor(self)
        self.scheduler = PolicyScheduler(self)
        self.webhooks = WebhookSender(self)
        self.patch_maker = PatchMaker(self, [expo_patches.patch_jobs, native_patches.patch_jobs])

    def start_background_work(self) -> None:
        self.tracker.start()
        self.flag_recorder.start()
        self.health.start()
        self.events.start()
        self.transfers.start()
        self.janitor.start()
        self.scheduler.start()
        self.patch_maker.start()
        if self.config.webhook_delivery:  # off: events wait in the outbox (e.g. a copy of a production box)
            self.webhooks.start()

    def publish_changes(self) -> None:
        """Tell the other processes about this thread's committed changes (the web app does it per request)."""
        publish_pending(self.generation_signal)

    def close(self) -> None:
        self.webhooks.stop()
        self.patch_maker.stop()
        self.scheduler.stop()
        self.janitor.stop()
        self.tracker.stop()
        self.flag_recorder.stop()
        self.usage.flush()
        self.health.stop()
        self.events.stop()
        self.transfers.stop()
        if self.generation_signal is not None:
            self.generation_signal.close()
        if not self.db.is_closed():
            self.db.close()
