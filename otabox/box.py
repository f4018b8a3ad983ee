"""The appliance: one object holding the configuration, database, storage, secrets and caches.

This is the composition root (with app.py): it may import every layer, and nothing imports it. The
web app and the CLI both build one; domain functions receive what they need from it."""
from __future__ import annotations

import functools
import os

from .config import Config
from .core.bundles import Ingestor
from .core.devices import DeviceTracker
from .core.health import HealthRecorder
from .core.serving import ServingCache
from .ops.maintenance import Janitor
from .ops.metrics import Metrics
from .ops.scheduler import PolicyScheduler
from .ops.webhooks import WebhookSender
from .protocols import codepush_package, expo
from .security.ratelimit import TokenBucketLimiter
from .security.sealing import load_sealer
from .security.signing import ServerSecrets
from .store.blobs import FileSystemBlobStore, Staging
from .store.db import is_sqlite, open_database
from .store.generation import GenerationSignal, publish_pending


class Box:
    def __init__(self, config: Config, schema: str = "upgrade"):
        """`schema`: what to do with the database's schema (see store.db.open_database)."""
        self.config = config
        config.data_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(config.data_dir, 0o700)
        self.db, self.upgrade = open_database(config.db_url, schema)
        self.secrets = ServerSecrets(config.data_dir / "secrets")
        self.sealer = load_sealer(config.data_dir / "secrets")
        self.staging = Staging(config.data_dir / "tmp")
        self.store = FileSystemBlobStore(config.data_dir / "blobs")
        self.generation_signal = GenerationSignal(config.data_dir / "generation") if is_sqlite(self.db) else None
        self.serving = ServingCache(self.generation_signal)
        self.metrics = Metrics()
        self.client_limiter = TokenBucketLimiter(config.client_rate_per_minute)
        self.auth_failure_limiter = TokenBucketLimiter(config.auth_failures_per_minute)
        self.tracker = DeviceTracker(config.device_flush_seconds)
        self.health = HealthRecorder(config.device_flush_seconds)
        self.ingestor = Ingestor(self, describers={"zip": codepush_package.describe_zip,
                                                   "expo": functools.partial(expo.describe_upload, self)})
        self.janitor = Janitor(self)
        self.scheduler = PolicyScheduler(self)
        self.webhooks = WebhookSender(self)

    def start_background_work(self) -> None:
        self.tracker.start()
        self.health.start()
        self.janitor.start()
        self.scheduler.start()
        if self.config.webhook_delivery:  # off: events wait in the outbox (e.g. a copy of a production box)
            self.webhooks.start()

    def publish_changes(self) -> None:
        """Tell the other processes about this thread's committed changes (the web app does it per request)."""
        publish_pending(self.generation_signal)

    def close(self) -> None:
        self.webhooks.stop()
        self.scheduler.stop()
        self.janitor.stop()
        self.tracker.stop()
        self.health.stop()
        if self.generation_signal is not None:
            self.generation_signal.close()
        if not self.db.is_closed():
            self.db.close()
