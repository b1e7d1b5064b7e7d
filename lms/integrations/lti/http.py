"""HTTP to platforms (their JWKS, token endpoint, gradebook) with a timeout."""

from __future__ import annotations

from typing import Any

import requests

TIMEOUT_SECONDS = 10


class PatientSession(requests.Session):
    """requests waits for ever by default; a platform that hangs must not hold a worker."""

    def __init__(self) -> None:
        super().__init__()
        self.headers["User-Agent"] = "Vern-LTI/1"

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", TIMEOUT_SECONDS)
        return super().request(*args, **kwargs)
