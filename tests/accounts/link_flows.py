"""Driving the emailed-link pages like a person: ask for a link, open it, press the button."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.helpers import csrf_from
from tests.mail.support import last_link

NEW_PASSWORD = "plum orchard lantern"


def forgot_password(client: FlaskClient, email: str, prefix: str = "/a/acme", **kwargs: Any) -> TestResponse:
    page = client.get(f"{prefix}/forgot-password")
    form = {"csrf_token": csrf_from(page.get_data(as_text=True)), "email": email}
    return client.post(f"{prefix}/forgot-password", data=form, **kwargs)


def reset_link(app: Flask, client: FlaskClient, email: str = "coach@example.com") -> str:
    response = forgot_password(client, email)
    assert response.status_code == 200, response.get_data(as_text=True)
    return last_link(app, to=email)


def press_button(client: FlaskClient, link: str, **fields: str) -> TestResponse:
    """Open the link page (GET) and submit its form, as a person does."""
    page = client.get(link)
    assert page.status_code == 200, page.get_data(as_text=True)
    return client.post(link, data={"csrf_token": csrf_from(page.get_data(as_text=True)), **fields})


def set_password(client: FlaskClient, link: str, password: str = NEW_PASSWORD,
                 confirm: str | None = None) -> TestResponse:
    return press_button(client, link, password=password,
                        confirm_password=password if confirm is None else confirm)
