"""The appliance: one object holding the configuration, database, storage, secrets and caches.

The web app and the CLI both build one; domain functions receive what they need from it."""
from __future__ import annotations

import os

from .config import Config
from .db import is_sqlite, open_database
from .devices import DeviceTracker
from .formats import BundleFormats
from .generation import GenerationSignal, publish_pending
from .metrics import Metrics
from .ratelimit import TokenBucketLimiter
from .serving import ServingCache
from .signing import ServerSecrets
from .storage import FileSystemBlobStore, Staging


class Box:
    def __init__(self, config: Config):
        self.config = config
        config.data_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(config.data_dir, 0o700)
        self.db = open_database(config.db_url)
        self.secrets = ServerSecrets(config.data_dir / "secrets")
        self.staging = Staging(config.data_dir / "tmp")
        self.store = FileSystemBlobStore(config.data_dir / "blobs")
        self.generation_signal = GenerationSignal(config.data_dir / "generation") if is_sqlite(self.db) else None
        self.serving = ServingCache(self.generation_signal)
        self.metrics = Metrics()
        self.client_limiter = TokenBucketLimiter(config.client_rate_per_minute)
        self.auth_failure_limiter = TokenBucketLimiter(config.auth_failures_per_minute)
        self.tracker = DeviceTracker(config.device_flush_seconds)
        self.formats = BundleFormats(self)
        from .bundles import Ingestor
        from .maintenance import Janitor

        self.ingestor = Ingestor(self)
        self.janitor = Janitor(self)

    def start_background_work(self) -> None:
        self.tracker.start()
        self.janitor.start()

    def publish_changes(self) -> None:
        """Tell the other processes about this thread's committed changes (the web app does it per request)."""
        publish_pending(self.generation_signal)

    def close(self) -> None:
        self.janitor.stop()
        self.tracker.stop()
        if self.generation_signal is not None:
            self.generation_signal.close()
        if not self.db.is_closed():
            self.db.close()
