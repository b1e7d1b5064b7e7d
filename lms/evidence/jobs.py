"""Scheduled entry points of the evidence package (the scheduler wires them in)."""

from __future__ import annotations

import logging
from datetime import datetime

from lms.config import Settings
from lms.db import Database
from lms.evidence import checkpoints, keys

log = logging.getLogger(__name__)


def checkpoint(settings: Settings, database: Database, now: datetime) -> str:
    """Sign the ledger's head if it moved since the last checkpoint."""
    try:
        key = keys.load_private_key(settings.ledger_key)
    except keys.LedgerKeyError as error:
        # Not a crash: the ledger still grows and verifies; it only lacks fresh signatures.
        log.warning("no ledger checkpoint: %s", error)
        return f"skipped: {error}"
    with database.transaction() as session:
        signed = checkpoints.create(session, key, now)
        return f"signed up to {signed.seq}" if signed else "nothing new to sign"
