"""Walking the sign-in pipeline in tests: an app asks, the person signs in, pages come and go."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pyotp
from flask import Flask
from flask.testing import FlaskClient

from tests.helpers import csrf_from, sign_in
from tests.oauth.helpers import REDIRECT_URI, RP, authorize, exchange, pkce, query_of

_SECRET = re.compile(r'data-secret="([A-Z2-7]+)"')
_RECOVERY = re.compile(r"<li><code>([a-z0-9]{5}-[a-z0-9]{5})</code></li>")


class Flow:
    """One authorization request by `rp`, carried through sign-in and the pipeline."""

    def __init__(self, client: FlaskClient, rp: RP, **params: str) -> None:
        self.client = client
        self.rp = rp
        self.verifier, challenge = pkce()
        response = authorize(client, rp, code_challenge=challenge, code_challenge_method="S256", **params)
        location = response.headers["Location"]
        self.request_id = query_of(location).get("request", "")  # none when the code comes at once
        self.first = response

    def sign_in(self, **kwargs: Any):  # type: ignore[no-untyped-def]
        response = sign_in(self.client, self.rp.prefix, query_string={"request": self.request_id},
                           extra_form={"request": self.request_id}, **kwargs)
        assert response.status_code == 303, response.get_data(as_text=True)
        return walk(self.client, response)

    def resume(self):  # type: ignore[no-untyped-def]
        """What the authorization endpoint says now (as when a URL is edited to skip ahead)."""
        return self.client.get(f"{self.rp.prefix}/authorize/continue/{self.request_id}")

    def post(self, page, path: str, **fields: str):  # type: ignore[no-untyped-def]
        """Submit a form of `page` (its CSRF token and this request) and follow the redirects."""
        form = {"csrf_token": csrf_from(page.get_data(as_text=True)), "request": self.request_id, **fields}
        return walk(self.client, self.client.post(f"{self.rp.prefix}{path}", data=form))

    def tokens(self, response) -> dict[str, Any]:  # type: ignore[no-untyped-def]
        # 302 from the authorization endpoint; 303 when the password's POST answers with the code
        # itself (RFC 9700 §4.12: never a status that would resend the form)
        assert response.status_code in (302, 303) and response.headers["Location"].startswith(REDIRECT_URI), (
            response.status_code, response.headers.get("Location"), response.get_data(as_text=True)[:500])
        code = query_of(response.headers["Location"])["code"]
        body: dict[str, Any] = exchange(self.client, self.rp, code, self.verifier).get_json()
        return body


def walk(client: FlaskClient, response):  # type: ignore[no-untyped-def]
    """Follow redirects inside the provider; stop at a page or a redirect that leaves it."""
    for _ in range(10):
        location = response.headers.get("Location", "")
        if response.status_code not in (302, 303) or not location.startswith("/"):
            return response
        response = client.get(location)
    raise AssertionError("too many redirects")


def path_of(response) -> str:  # type: ignore[no-untyped-def]
    return str(response.request.path)


def claims_of(jwt: str) -> dict[str, Any]:
    payload = jwt.split(".")[1]
    value: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return value


def secret_from(html: str) -> str:
    match = _SECRET.search(html)
    assert match, "the enrolment page shows the secret"
    return match.group(1)


def recovery_codes_from(html: str) -> list[str]:
    return _RECOVERY.findall(html)


def totp_code(app: Flask, secret: str, steps: int = 0) -> str:
    """The code an app shows at the provider's (travelled) time, `steps` periods away."""
    now = app.extensions["idp.clock"].now()
    return str(pyotp.TOTP(secret).at(int(now.timestamp()) + 30 * steps))


def next_period(app: Flask) -> None:
    """Travel to the start of the next 30-second period (codes of the last one are then old)."""
    from datetime import timedelta

    now = app.extensions["idp.clock"].now()
    app.extensions["idp.clock"].advance(timedelta(seconds=30 - now.timestamp() % 30 + 0.01))
