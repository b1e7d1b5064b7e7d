"""Stored tallies so the organisation views read a few hundred rows, not every assignment."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from lms.db import Base, UTCDateTime


class TallySnapshot(Base):
    """Counts per (department, course) at one moment.

    kind "current": the latest, refreshed by the tallies job (the HR overview reads it).
    kind "day": the state at the end of `day`, written once the day is over (as-of reads it;
    it also keeps the department a person was in at the time)."""

    __tablename__ = "tally_snapshots"
    __table_args__ = (Index("ix_tally_snapshots_kind_day", "kind", "day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    day: Mapped[date] = mapped_column(Date)
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime())
    include_leavers: Mapped[bool] = mapped_column(Boolean)
    department: Mapped[str] = mapped_column(String(200))
    course_key: Mapped[str] = mapped_column(String(64))
    total: Mapped[int] = mapped_column(Integer)
    complete: Mapped[int] = mapped_column(Integer)
    overdue: Mapped[int] = mapped_column(Integer)
    due_soon: Mapped[int] = mapped_column(Integer)
    exempt: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
