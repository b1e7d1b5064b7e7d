"""A Learning Record Store an admin connected, and how far Vern has read for it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from lms.db import Base, UTCDateTime


class LrsEndpoint(Base):
    __tablename__ = "lrs_endpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    # The xAPI base, e.g. https://lrs.example.com/xAPI/ (statements go to <url>statements).
    url: Mapped[str] = mapped_column(String(500))
    username: Mapped[str] = mapped_column(String(200))
    # Basic authentication needs the password itself, so it is kept encrypted
    # (lms.people.crypto), not hashed. Never shown again after it is entered.
    password_encrypted: Mapped[str] = mapped_column(String(500))
    # Name people by email (mbox) instead of a pseudonymous account: only if the company
    # decided its LRS may hold addresses.
    send_email: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Mixed into every statement id sent here: ids stay the same on a retry, but a store
    # connected again (or another installation at the same address) never sees an id reused.
    id_seed: Mapped[str] = mapped_column(String(36))
    # Events up to this moment have been queued for this store (nothing from before it was
    # connected is sent).
    read_until: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
