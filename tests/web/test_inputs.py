"""What a request may carry (idp/web/inputs.py): no NUL anywhere, JSON of any depth refused
cleanly, and a value the database refuses is a 400, not a 500. On SQLite and PostgreSQL (only
PostgreSQL fails on a NUL in text, which is why the edge refuses it for both)."""

from __future__ import annotations

import logging

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from idp.db import db
from idp.web.errors import UnstorableValue, classify
from idp.web.inputs import holds_nul
from tests.helpers import make_tenant, make_user
from tests.oauth.helpers import RP, client_credentials_token, make_rp


@pytest.fixture
def service(app: Flask) -> RP:
    tenant = make_tenant()
    make_user(tenant)
    return make_rp(tenant, grant_types=["client_credentials"], redirect_uris=[], scope="users:read users:write")


@pytest.mark.parametrize("request_args", [
    {"path": "/a/acme/authorize", "query_string": "response_type=code&client_id=x&login_hint=a%00b"},
    {"path": "/a/acme/authorize", "query_string": "client_id%00=x"},
    {"path": "/a/acme/reset-password/abc%00def"},
    {"path": "/lookup", "query_string": "account=acme%00"},
    {"path": "/a/acme/api/v1/users/sub%00"},
    {"path": "/a/acme/token", "method": "POST", "data": {"grant_type": "client_credentials", "client_id": "a\x00"}},
    {"path": "/a/acme/token", "method": "POST", "data": {"grant_type": "refresh_token", "refresh_token": "\x00"},
     "query_string": "via=flask"},
    {"path": "/a/acme/login", "method": "POST", "data": {"email": "coach@example.com\x00", "password": "x"}},
    {"path": "/a/acme/forgot-password", "method": "POST", "data": {"email": "\x00"}},
])
def test_a_nul_anywhere_is_a_400_on_every_database(client: FlaskClient, service: RP,
                                                   request_args: dict[str, object]) -> None:
    response = client.open(**request_args)  # type: ignore[arg-type]
    assert response.status_code == 400, response.get_data(as_text=True)[:500]


@pytest.mark.parametrize("body", ['{"email": "a\\u0000@example.com"}', '{"email\\u0000": "a@example.com"}',
                                  '{"email": "a@example.com", "name": ["x", {"y": "\\u0000"}]}'])
def test_a_nul_in_json_is_refused_as_malformed(client: FlaskClient, service: RP, body: str) -> None:
    token = client_credentials_token(client, service, "users:write")
    response = client.post("/a/acme/api/v1/users", data=body, content_type="application/json",
                           headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_request"


@pytest.mark.parametrize(("value", "holds"), [
    ("plain", False), ({"a": ["b", {"c": "d"}]}, False), (["\x00"], True), ({"\x00": 1}, True),
    ([[[[{"k": "v\x00"}]]]], True), (5, False), (None, False),
])
def test_holds_nul_looks_at_every_key_and_string(value: object, holds: bool) -> None:
    assert holds_nul(value) is holds


def test_a_value_the_database_refuses_is_a_400_and_a_warning(app: Flask, database: str,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    """The net behind the edge: a DataError (here a number too large for its type) is bad input."""
    try:
        db.session.execute(text("SELECT CAST(:n AS INTEGER) + 2147483647"), {"n": 2147483647}).scalar()
    except Exception as error:
        with caplog.at_level(logging.WARNING, logger="idp.web.errors"):
            known = classify(error)
        assert isinstance(known, UnstorableValue) and known.status == 400
        assert "refused a value" in caplog.text
        return
    assert database == "sqlite", "PostgreSQL refuses an integer overflow with a DataError"
