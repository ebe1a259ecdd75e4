"""The one error handler: JSON for programs, pages for people, the form again for a refused form,
a 503 with Retry-After while the database is away, and a plain answer if even the page fails."""

from __future__ import annotations

from dataclasses import replace

import pytest
from flask import Flask
from flask.testing import FlaskClient
from jinja2 import ChoiceLoader, DictLoader

from idp.app import create_app
from idp.config import Config
from tests.conftest import IsolatedClient
from tests.helpers import make_tenant


@pytest.fixture
def tenant(app: Flask) -> None:
    make_tenant()


@pytest.mark.parametrize("path", ["/token", "/revoke", "/introspect", "/register"])
def test_a_wrong_method_at_a_protocol_endpoint_is_json_naming_the_allowed_ones(
    client: FlaskClient, tenant: None, path: str,
) -> None:
    response = client.get(f"/a/acme{path}")
    assert response.status_code == 405 and response.is_json
    assert response.get_json()["error"] == "invalid_request"
    assert "POST" in response.headers["Allow"]


def test_a_wrong_method_on_a_page_is_a_page(client: FlaskClient, tenant: None) -> None:
    response = client.delete("/a/acme/login")
    assert response.status_code == 405 and response.mimetype == "text/html"
    assert "does not accept that kind of request" in response.get_data(as_text=True)


def test_an_unknown_account_is_its_own_404_page(client: FlaskClient, app: Flask) -> None:
    response = client.get("/a/nobody-here/login")
    assert response.status_code == 404 and response.mimetype == "text/html"
    assert "nobody-here" in response.get_data(as_text=True)


def test_an_admin_api_refusal_is_json_with_the_bearer_challenge(client: FlaskClient, tenant: None) -> None:
    response = client.get("/a/acme/api/v1/business", headers={"Authorization": "Bearer not-a-token"})
    assert response.status_code == 401 and response.get_json()["error"] == "invalid_token"
    assert response.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')


def test_an_error_page_that_cannot_render_still_answers_with_its_status(
    client: FlaskClient, app: Flask, tenant: None,
) -> None:
    app.jinja_loader = ChoiceLoader([DictLoader({"errors/error.html": "{{ no_such_function() }}"}),
                                     app.jinja_loader])  # type: ignore[list-item]
    app.jinja_env.cache = {}
    response = client.get("/a/acme/no-such-page")
    assert response.status_code == 404 and response.mimetype == "text/plain"
    assert "Traceback" not in response.get_data(as_text=True)


@pytest.fixture
def unreachable(config: Config) -> FlaskClient:
    """The app pointed at a PostgreSQL server that is not there (nothing listens on port 1)."""
    app = create_app(replace(config, database_url="postgresql+psycopg://postgres@127.0.0.1:1/none"), TESTING=True)
    app.test_client_class = IsolatedClient
    return app.test_client()


@pytest.mark.parametrize(("method", "path", "json"), [
    ("GET", "/a/acme/login", False),
    ("POST", "/a/acme/login", False),
    ("GET", "/a/acme/.well-known/openid-configuration", True),
    ("POST", "/a/acme/token", True),
    ("GET", "/a/acme/api/v1/business", True),
])
def test_without_a_database_every_request_is_503_with_retry_after(
    unreachable: FlaskClient, method: str, path: str, json: bool,
) -> None:
    data = {"grant_type": "client_credentials"} if path.endswith("/token") else None
    response = unreachable.open(path, method=method, data=data)
    assert response.status_code == 503, response.get_data(as_text=True)[:300]
    assert int(response.headers["Retry-After"]) > 0
    assert response.is_json is json
    body = response.get_data(as_text=True)
    assert "Traceback" not in body and "psycopg" not in body and "127.0.0.1:1" not in body
    if json:
        assert response.get_json()["error"] == "temporarily_unavailable"
