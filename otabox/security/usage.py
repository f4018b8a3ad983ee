"""When each access token and session was last used, written in batches.

Authenticated requests note the time in memory; the notes are written in one transaction when the
batch is older than the interval (by the request that finds it so) and when the box closes, so a
request never writes for bookkeeping alone and a busy token costs one UPDATE per interval. A batch
the database refuses (locked, full) is kept for the next try. Session idle expiry reads the time
noted here when it is newer than the row's."""
from __future__ import annotations

import datetime as dt
import logging
import threading
import time

from peewee import PeeweeException

from ..errors import OtaboxError
from ..store.models import ApiKey, UserSession, database, utcnow

log = logging.getLogger("otabox.usage")
FLUSH_SECONDS = 30.0


class UsageRecorder:
    def __init__(self, interval: float = FLUSH_SECONDS, clock=time.monotonic):
        self.interval, self.clock = interval, clock
        self._lock = threading.Lock()
        self._tokens: dict[int, dt.datetime] = {}
        self._sessions: dict[int, dt.datetime] = {}
        self._since = clock()

    def token_used(self, token_id: int) -> None:
        self._note(self._tokens, token_id)

    def session_used(self, session_id: int) -> None:
        self._note(self._sessions, session_id)

    def session_seen_at(self, session_id: int) -> dt.datetime | None:
        with self._lock:
            return self._sessions.get(session_id)

    def _note(self, batch: dict, row_id: int) -> None:
        with self._lock:
            batch[row_id] = utcnow()
            due = self.clock() - self._since >= self.interval
        if due:
            self.flush()

    def flush(self) -> int:
        with self._lock:
            tokens, sessions = self._tokens, self._sessions
            self._tokens, self._sessions, self._since = {}, {}, self.clock()
        if not tokens and not sessions:
            return 0
        try:
            with database.atomic():
                for token_id, at in tokens.items():
                    ApiKey.update(last_used_at=at).where(ApiKey.id == token_id).execute()
                for session_id, at in sessions.items():
                    UserSession.update(last_seen_at=at).where(UserSession.id == session_id).execute()
        except (OtaboxError, PeeweeException):
            log.warning("could not record token usage now; kept for the next batch")
            with self._lock:
                self._tokens = {**tokens, **self._tokens}
                self._sessions = {**sessions, **self._sessions}
            return 0
        return len(tokens) + len(sessions)
