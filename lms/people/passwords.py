"""The password rules (ASVS 2.1.1, 2.1.7): long enough, and not one everybody tries first.

One place for the rules so the reset page, `lms people set-password` and every other way a
password is set refuse the same things."""

from __future__ import annotations

from enum import StrEnum
from functools import cache
from pathlib import Path

MIN_PASSWORD_LENGTH = 12
COMMON_PASSWORDS_FILE = Path(__file__).with_name("common_passwords.txt")


class PasswordProblem(StrEnum):
    TOO_SHORT = "too_short"
    TOO_COMMON = "too_common"


@cache
def common_passwords() -> frozenset[str]:
    """The bundled list of common passwords, lower-cased (read once per process)."""
    lines = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.lower() for line in lines if line and not line.startswith("#"))


def password_problem(password: str) -> PasswordProblem | None:
    """Why `password` may not be used, or None if it may."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return PasswordProblem.TOO_SHORT
    if password.lower() in common_passwords():
        return PasswordProblem.TOO_COMMON
    return None
