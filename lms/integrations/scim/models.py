"""What an identity provider sent that Vern keeps only to read it back as sent."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from lms.db import Base, UTCDateTime


class ScimUserDetail(Base):
    """A provisioned person's startDate instant, SCIM locale and timezone as sent, beside the
    date, language and time zone Vern works with (users.start_date in the person's time zone,
    users.locale, users.timezone, which the person may also change in Vern)."""

    __tablename__ = "scim_user_details"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    start_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    locale: Mapped[str | None] = mapped_column(String(64))
    timezone: Mapped[str | None] = mapped_column(String(64))
