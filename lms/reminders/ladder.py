"""The reminder ladder as pure rules: which stage is due on a day, and when the next one is."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from lms.catalog.definition import ReminderPolicy


class StageKind(StrEnum):
    REMINDER = "reminder"  # to the employee
    COPY = "copy"  # to the employee, manager in copy
    ESCALATION = "escalation"  # to the manager and HR (and later the skip-level manager)


@dataclass(frozen=True)
class Stage:
    offset: int  # days after the due date (negative: before)
    kind: StageKind
    skip_level: bool = False

    @property
    def key(self) -> str:
        """Stable name used in the outbox key, e.g. due-7, due, due+3, due+14."""
        return "due" if self.offset == 0 else f"due{self.offset:+d}"


def _fixed_offsets(policy: ReminderPolicy) -> list[int]:
    offsets = [-days for days in policy.before_days]
    if policy.on_due_day:
        offsets.append(0)
    offsets.append(policy.copy_manager_after)
    return offsets


def stage_at(policy: ReminderPolicy, offset: int) -> Stage | None:
    """The stage that falls exactly `offset` days after the due date, if any."""
    after_first = offset - policy.escalate_after
    if after_first >= 0 and after_first % policy.escalate_every == 0:
        return Stage(offset, StageKind.ESCALATION, skip_level=offset >= policy.skip_level_after)
    if offset == policy.copy_manager_after:
        return Stage(offset, StageKind.COPY)
    if offset in _fixed_offsets(policy):
        return Stage(offset, StageKind.REMINDER)
    return None


def _latest_escalation_offset(policy: ReminderPolicy, offset_today: int) -> int | None:
    if offset_today < policy.escalate_after:
        return None
    steps = (offset_today - policy.escalate_after) // policy.escalate_every
    return policy.escalate_after + steps * policy.escalate_every


def latest_stage(policy: ReminderPolicy, due: date, today: date) -> Stage | None:
    """The most recent stage on or before `today`; earlier missed stages are not repeated."""
    offset_today = (today - due).days
    candidates = [o for o in _fixed_offsets(policy) if o <= offset_today]
    escalation = _latest_escalation_offset(policy, offset_today)
    if escalation is not None:
        candidates.append(escalation)
    return stage_at(policy, max(candidates)) if candidates else None


def next_stage_on(policy: ReminderPolicy, due: date, today: date) -> date:
    """The first day after `today` on which a stage falls (escalations repeat for ever)."""
    offset_today = (today - due).days
    later = [o for o in _fixed_offsets(policy) if o > offset_today]
    escalation = _latest_escalation_offset(policy, offset_today)
    later.append(
        policy.escalate_after if escalation is None else escalation + policy.escalate_every
    )
    return due + timedelta(days=min(later))
