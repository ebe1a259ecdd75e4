"""Pages: per-tenant template overrides, and what every person needs from a form (labels, errors tied
to their fields, a viewport, an unticked "Stay logged in")."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from jinja2 import ChoiceLoader, FileSystemLoader

from tests.helpers import PASSWORD, csrf_from, make_tenant, make_user, sign_in

OVERRIDE = """{% extends "base.html" %}
{% block content %}
<h1 id="custom">Welcome to the Acme pool deck</h1>
<form method="post" action="{{ url_for('login.sign_in') }}">
  <input type="hidden" name="csrf_token" value="{{ csrf_token() }}">
  <label for="email">Email</label><input id="email" name="email">
  <label for="password">Password</label><input id="password" name="password" type="password">
  <button type="submit">Dive in</button>
</form>
{% endblock %}
"""


@pytest.fixture
def overrides(app: Flask, tmp_path: Path) -> Path:
    """A template folder searched before the shipped one, as templates/tenants/ is."""
    original = app.jinja_env.loader
    assert original is not None
    app.jinja_env.loader = ChoiceLoader([FileSystemLoader(str(tmp_path)), original])
    return tmp_path


def write_override(root: Path, account: str, name: str, text: str) -> None:
    path = root / "tenants" / account / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_tenant_override_is_used_for_that_tenant_only(app, client: FlaskClient, overrides: Path) -> None:
    make_user(make_tenant("acme", "Acme Swim School"))
    make_tenant("beta", "Beta Dance")
    write_override(overrides, "acme", "login/sign_in.html", OVERRIDE)
    acme = client.get("/a/acme/login").get_data(as_text=True)
    assert "Welcome to the Acme pool deck" in acme
    assert "Acme Swim School" in acme, "the override still extends the shared layout"
    acme_host = client.get("/login", base_url="http://acme.localhost").get_data(as_text=True)
    assert "Welcome to the Acme pool deck" in acme_host
    beta = client.get("/a/beta/login").get_data(as_text=True)
    assert "pool deck" not in beta and "Staff sign in" in beta
    root = client.get("/").get_data(as_text=True)
    assert "pool deck" not in root


def test_overridden_form_still_signs_in(app, client: FlaskClient, overrides: Path) -> None:
    make_user(make_tenant())
    write_override(overrides, "acme", "login/sign_in.html", OVERRIDE)
    page = client.get("/a/acme/login")
    token = csrf_from(page.get_data(as_text=True))
    response = client.post("/a/acme/login", data={"csrf_token": token, "email": "coach@example.com",
                                                  "password": PASSWORD})
    assert response.status_code == 303


def test_override_of_one_page_leaves_the_others_default(app, client: FlaskClient, overrides: Path) -> None:
    make_tenant()
    write_override(overrides, "acme", "login/sign_in.html", OVERRIDE)
    assert "You are signed out" in client.get("/a/acme/signed-out").get_data(as_text=True)


def test_an_unknown_account_never_picks_up_an_override(app, client: FlaskClient, overrides: Path) -> None:
    write_override(overrides, "ghost", "login/sign_in.html", OVERRIDE)
    response = client.get("/a/ghost/login")
    assert response.status_code == 404
    assert "pool deck" not in response.get_data(as_text=True)


# -- what every page needs ------------------------------------------------------------------------


class Form(HTMLParser):
    """Collects inputs, labels, ids and aria-describedby references of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.inputs: list[dict[str, str | None]] = []
        self.labels: list[str] = []
        self.ids: list[str] = []
        self.metas: list[dict[str, str | None]] = []
        self.lang: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.append(a["id"] or "")
        if tag == "input":
            self.inputs.append(a)
        elif tag == "label" and a.get("for"):
            self.labels.append(a["for"] or "")
        elif tag == "meta":
            self.metas.append(a)
        elif tag == "html":
            self.lang = a.get("lang")


def parse(html: str) -> Form:
    form = Form()
    form.feed(html)
    return form


def check_page(html: str) -> Form:
    page = parse(html)
    viewport = [m for m in page.metas if m.get("name") == "viewport"]
    assert viewport and "width=device-width" in (viewport[0].get("content") or "")
    assert page.lang, "<html lang=...> lets screen readers pick a voice"
    assert len(page.ids) == len(set(page.ids)), "ids are unique"
    for field in page.inputs:
        if field.get("type") in ("hidden", "submit"):
            continue
        assert field.get("id"), f"input {field.get('name')} has no id"
        assert field["id"] in page.labels, f"input {field.get('name')} has no <label for=...>"
        for ref in (field.get("aria-describedby") or "").split():
            assert ref in page.ids, f"aria-describedby={ref} points at nothing"
    return page


@pytest.mark.parametrize(
    ("url", "base_url"),
    [
        ("/", "http://localhost"),
        ("/lookup?account=", "http://localhost"),
        ("/lookup?account=nope", "http://localhost"),
        ("/a/acme/login", "http://localhost"),
        ("/login", "http://acme.localhost"),
        ("/a/acme/logout", "http://localhost"),
        ("/a/acme/signed-out", "http://localhost"),
        ("/a/acme/no-such-page", "http://localhost"),
    ],
)
def test_pages_have_labels_and_a_viewport(app, client: FlaskClient, url: str, base_url: str) -> None:
    make_tenant()
    check_page(client.get(url, base_url=base_url).get_data(as_text=True))


def test_sign_in_page_fields(app, client: FlaskClient) -> None:
    make_tenant()
    page = check_page(client.get("/a/acme/login").get_data(as_text=True))
    by_name = {f.get("name"): f for f in page.inputs}
    assert by_name["email"]["autocomplete"] == "username"
    assert by_name["password"]["type"] == "password"
    assert by_name["password"]["autocomplete"] == "current-password"
    stay = by_name["stay_logged_in"]
    assert stay["type"] == "checkbox"
    assert "checked" not in stay, '"Stay logged in" is never pre-ticked'
    assert stay["id"] in page.labels
    assert "Stay logged in" in client.get("/a/acme/login").get_data(as_text=True)


def test_stay_logged_in_stays_unticked_after_a_failed_attempt(app, client: FlaskClient) -> None:
    make_user(make_tenant())
    response = sign_in(client, password="not the password at all")
    assert response.status_code == 401
    stay = {f.get("name"): f for f in parse(response.get_data(as_text=True)).inputs}["stay_logged_in"]
    assert "checked" not in stay


def test_field_errors_are_tied_to_their_fields(app, client: FlaskClient) -> None:
    make_tenant()
    token = csrf_from(client.get("/a/acme/login").get_data(as_text=True))
    response = client.post("/a/acme/login", data={"csrf_token": token, "email": "", "password": ""})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    page = check_page(html)
    by_name = {f.get("name"): f for f in page.inputs}
    for name in ("email", "password"):
        field = by_name[name]
        assert field.get("aria-invalid") == "true"
        error_id = (field.get("aria-describedby") or "").split()
        assert error_id and error_id[0] in page.ids
    assert 'id="email-error">Enter your email address or username.' in html
    assert 'id="password-error">Enter your password.' in html


def test_only_the_wrong_field_is_marked(app, client: FlaskClient) -> None:
    make_tenant()
    token = csrf_from(client.get("/a/acme/login").get_data(as_text=True))
    response = client.post("/a/acme/login", data={"csrf_token": token, "email": "coach@example.com", "password": ""})
    by_name = {f.get("name"): f for f in check_page(response.get_data(as_text=True)).inputs}
    assert "aria-invalid" not in by_name["email"]
    assert by_name["email"]["value"] == "coach@example.com", "what the person typed is kept"
    assert by_name["password"].get("aria-invalid") == "true"
    assert "value" not in by_name["password"], "a password is never put back into the page"


def test_wrong_password_message_is_announced(app, client: FlaskClient) -> None:
    make_user(make_tenant())
    html = sign_in(client, password="not the password at all").get_data(as_text=True)
    assert 'role="alert"' in html
    assert "That email or password is not right" in html


def test_lookup_error_is_tied_to_its_field(app, client: FlaskClient) -> None:
    page = check_page(client.get("/lookup?account=").get_data(as_text=True))
    field = {f.get("name"): f for f in page.inputs}["account"]
    assert field.get("aria-invalid") == "true"
    assert field.get("aria-describedby") == "account-error"
