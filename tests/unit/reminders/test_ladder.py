"""The reminder ladder: which stage falls on which day, and the day after which comes next."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from lms.catalog.definition import ReminderPolicy
from lms.reminders.ladder import StageKind, latest_stage, next_stage_on, stage_at

DUE = date(2026, 5, 20)
DEFAULT = ReminderPolicy()


def day(offset: int) -> date:
    return DUE + timedelta(days=offset)


@pytest.mark.parametrize(
    ("offset", "key", "kind", "skip_level"),
    [
        (-7, "due-7", StageKind.REMINDER, False),
        (0, "due", StageKind.REMINDER, False),
        (3, "due+3", StageKind.COPY, False),
        (7, "due+7", StageKind.ESCALATION, False),
        (14, "due+14", StageKind.ESCALATION, True),
        (21, "due+21", StageKind.ESCALATION, True),
    ],
)
def test_default_ladder_stages(offset: int, key: str, kind: StageKind, skip_level: bool) -> None:
    stage = stage_at(DEFAULT, offset)
    assert stage is not None
    assert (stage.key, stage.kind, stage.skip_level) == (key, kind, skip_level)


@pytest.mark.parametrize("offset", [-8, -6, -1, 1, 2, 4, 8, 13, 15])
def test_no_stage_between_the_rungs(offset: int) -> None:
    assert stage_at(DEFAULT, offset) is None


def test_every_day_maps_to_the_latest_stage_so_far() -> None:
    expected = {
        -30: None,
        -8: None,
        -7: "due-7",
        -1: "due-7",
        0: "due",
        2: "due",
        3: "due+3",
        6: "due+3",
        7: "due+7",
        13: "due+7",
        14: "due+14",
        20: "due+14",
        70: "due+70",
    }
    for offset, key in expected.items():
        stage = latest_stage(DEFAULT, DUE, day(offset))
        assert (stage.key if stage else None) == key, offset


def test_next_stage_day_walks_the_ladder() -> None:
    walk = [day(-30)]
    while walk[-1] < day(30):
        walk.append(next_stage_on(DEFAULT, DUE, walk[-1]))
    assert [(d - DUE).days for d in walk[1:]] == [-7, 0, 3, 7, 14, 21, 28, 35]


def test_course_can_override_the_ladder() -> None:
    policy = ReminderPolicy(
        before_days=(14, 3),
        on_due_day=False,
        copy_manager_after=1,
        escalate_after=5,
        escalate_every=10,
        skip_level_after=25,
    )
    keys = []
    today = day(-20)
    while today <= day(40):
        stage = stage_at(policy, (today - DUE).days)
        if stage:
            keys.append((stage.key, stage.kind, stage.skip_level))
        today = next_stage_on(policy, DUE, today)
    assert keys == [
        ("due-14", StageKind.REMINDER, False),
        ("due-3", StageKind.REMINDER, False),
        ("due+1", StageKind.COPY, False),
        ("due+5", StageKind.ESCALATION, False),
        ("due+15", StageKind.ESCALATION, False),
        ("due+25", StageKind.ESCALATION, True),
        ("due+35", StageKind.ESCALATION, True),
    ]
