"""Authorization helpers for views; queries still filter by who may see what."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

from flask import abort
from flask_login import current_user, login_required

from lms.people.models import Role

P = ParamSpec("P")
R = TypeVar("R")


def role_required(*roles: Role) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """The view needs a login and one of `roles`; anyone else gets 403."""

    def decorate(view: Callable[P, R]) -> Callable[P, R]:
        @wraps(view)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            if not any(current_user.has_role(role) for role in roles):
                abort(403)
            return view(*args, **kwargs)

        return login_required(wrapper)

    return decorate
