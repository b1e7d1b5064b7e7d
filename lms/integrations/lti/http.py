"""HTTP to platforms (their key sets, token endpoint, gradebook), under the outbound policy.

pylti1p3 makes these requests itself through the session it is given; this session keeps it
to the policy (checked addresses, no redirects, a timeout) and keeps what a platform answers
out of pylti1p3's error messages, which end up in logs, the audit trail and admin pages: a
refused or failed request, or a GET that is not a 200 JSON reply, is a RequestException
naming the status and a short reason only (pylti1p3 turns those into LtiException)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import requests

from lms.extensions import settings
from lms.people import outbound
from lms.people.outbound import GuardedSession, Policy

AGENT = "Vern-LTI/1"
MAX_JSON_BYTES = outbound.MAX_JSON_BYTES


class PatientSession(GuardedSession):
    """The requests session for everything LTI sends (the name is older than the policy: it
    was first about timeouts, so a platform that hangs does not hold a worker)."""

    def __init__(self, policy: Policy | None = None) -> None:
        chosen = policy or Policy.from_settings(settings())
        super().__init__(chosen)
        outbound.guard(self, chosen, AGENT)
        self.max_redirects = 1  # see Policy.session: a 3xx is handed back, never followed

    def request(self, method: str, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        host = urlsplit(str(url)).hostname
        try:
            if method.upper() != "GET":
                return super().request(method, url, *args, **kwargs)
            kwargs["stream"] = True
            response = super().request(method, url, *args, **kwargs)
        except outbound.OutboundError as error:
            raise requests.ConnectionError(f"{host}: {error.reason}") from None
        with response:
            if response.status_code != 200:
                raise requests.HTTPError(f"{host}: {outbound.status_reason(response)}")
            body = response.raw.read(MAX_JSON_BYTES + 1, decode_content=True)
        if len(body) > MAX_JSON_BYTES:
            raise requests.RequestException(f"{host}: reply too large")
        try:
            json.loads(body)
        except ValueError:
            raise requests.RequestException(f"{host}: not JSON") from None
        response._content = body  # read once, bounded; .json() and .text use it
        response._content_consumed = True
        return response
