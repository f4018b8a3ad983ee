"""Leases: of several otabox processes on one database, one runs a once-per-box job at a time.

A lease is a row (name, holder, expires_at). A process takes it, or renews it, with one conditional
UPDATE that succeeds only when the row is free, expired or already its own; the database makes that
atomic, so two processes can never both believe they hold it. A holder that dies (kill -9) simply
stops renewing: after `ttl` seconds another process takes over. Clocks of the processes sharing a
database are assumed to agree to well within `ttl`."""
from __future__ import annotations

import datetime as dt
import os
import secrets
import socket

from .models import Lease, database, utcnow


def new_holder() -> str:
    """A name no other process (on any host) will use."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def acquire(name: str, holder: str, ttl: float) -> bool:
    """Take or renew the lease `name` for `ttl` seconds; False while another holder has it."""
    now = utcnow()
    until = now + dt.timedelta(seconds=ttl)
    current = Lease.get_or_none(Lease.name == name)
    if current is not None and current.holder not in ("", holder) and current.expires_at >= now:
        return False  # held by another: no write transaction for a lease we cannot get
    with database.atomic():
        Lease.insert(name=name, holder="", expires_at=now - dt.timedelta(seconds=1)).on_conflict_ignore().execute()
        taken = (Lease.update(holder=holder, expires_at=until)
                 .where((Lease.name == name) & ((Lease.holder == holder) | (Lease.expires_at < now)))
                 .execute())
    return taken == 1


def release(name: str, holder: str) -> None:
    """Give the lease up at once (a clean shutdown), so another process need not wait for it to expire."""
    (Lease.update(holder="", expires_at=utcnow() - dt.timedelta(seconds=1))
     .where((Lease.name == name) & (Lease.holder == holder)).execute())


def holder_of(name: str) -> str | None:
    row = Lease.get_or_none(Lease.name == name)
    return row.holder if row is not None and row.holder and row.expires_at >= utcnow() else None
