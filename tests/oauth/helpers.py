"""Relying-party side helpers for the OAuth tests: a client, PKCE, and the code flow."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from flask.testing import FlaskClient

from idp.db import db
from idp.oauth.clients import register_client
from idp.tenancy.models import Tenant
from tests.helpers import csrf_from, sign_in

REDIRECT_URI = "https://rp.example/callback"


@dataclass
class RP:
    client_id: str
    client_secret: str | None
    prefix: str  # "/a/acme"

    @property
    def issuer(self) -> str:
        return f"http://localhost{self.prefix}"

    @property
    def basic(self) -> dict[str, str]:
        raw = f"{self.client_id}:{self.client_secret}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def make_rp(tenant: Tenant, *, first_party: bool = True, public: bool = False, **metadata: Any) -> RP:
    raw: dict[str, Any] = {
        "client_name": "Office Portal",
        "redirect_uris": [REDIRECT_URI],
        "grant_types": ["authorization_code", "refresh_token"],
        "scope": "openid profile email offline_access",
        "token_endpoint_auth_method": "none" if public else "client_secret_basic",
        "application_type": "native" if public else "web",
    }
    raw.update(metadata)
    registered = register_client(tenant, raw, first_party=first_party)
    db.session.commit()
    return RP(registered.client.client_id, registered.client_secret, f"/a/{tenant.account}")


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def authorize(client: FlaskClient, rp: RP, **params: str):  # type: ignore[no-untyped-def]
    query = {"response_type": "code", "client_id": rp.client_id, "redirect_uri": REDIRECT_URI,
             "scope": "openid profile email", "state": "st-1", "nonce": "n-1"}
    query.update(params)
    return client.get(f"{rp.prefix}/authorize", query_string={k: v for k, v in query.items() if v is not None})


def get_code(client: FlaskClient, rp: RP, *, signed_in: bool = False, **params: str) -> tuple[str, str | None]:
    """Run the browser part of the code flow; returns (code, verifier)."""
    verifier, challenge = pkce()
    params.setdefault("code_challenge", challenge)
    params.setdefault("code_challenge_method", "S256")
    response = authorize(client, rp, **params)
    if not signed_in:
        assert response.status_code == 303, response.get_data(as_text=True)
        login_url = response.headers["Location"]
        request_id = query_of(login_url)["request"]
        response = sign_in(client, rp.prefix, query_string={"request": request_id}, extra_form={"request": request_id})
        assert response.status_code == 303, response.get_data(as_text=True)
    response = follow_local(client, response)
    # 302 from the authorization endpoint; 303 when a POST (the password, a step's form) answered
    # with the code itself (RFC 9700 §4.12)
    assert response.status_code in (302, 303), response.get_data(as_text=True)
    location = response.headers["Location"]
    assert location.startswith(REDIRECT_URI)
    return query_of(location)["code"], verifier


def follow_local(client: FlaskClient, response):  # type: ignore[no-untyped-def]
    """Follow redirects within the provider until one leaves it (or a page is shown).

    The sign-in pipeline's notices page (e.g. "please verify your email") does not block: like a
    person, this presses its "Continue" button.
    """
    for _ in range(10):
        location = response.headers.get("Location", "")
        if response.status_code == 200 and response.request.path.endswith("/notices"):
            response = _continue_past_notices(client, response)
            continue
        if response.status_code not in (302, 303) or not location.startswith("/"):
            return response
        response = client.get(location)
    raise AssertionError("too many redirects")


def _continue_past_notices(client: FlaskClient, page):  # type: ignore[no-untyped-def]
    form = {"csrf_token": csrf_from(page.get_data(as_text=True))}
    request_id = page.request.args.get("request")
    if request_id:
        form["request"] = request_id
    return client.post(page.request.path, data=form)


def exchange(client: FlaskClient, rp: RP, code: str, verifier: str | None, **extra: str):  # type: ignore[no-untyped-def]
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI}
    if verifier:
        form["code_verifier"] = verifier
    form.update(extra)
    headers = rp.basic if rp.client_secret else {}
    if not rp.client_secret:
        form["client_id"] = rp.client_id
    return client.post(f"{rp.prefix}/token", data=form, headers=headers)


def client_credentials_token(client: FlaskClient, rp: RP, scope: str) -> str:
    """An access token for `rp` itself (the admin API's callers)."""
    response = client.post(f"{rp.prefix}/token", data={"grant_type": "client_credentials", "scope": scope},
                           headers=rp.basic)
    assert response.status_code == 200, response.get_json()
    return str(response.get_json()["access_token"])
