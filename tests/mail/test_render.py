"""Messages come from templates: branded per tenant, in the person's language when we have it."""

from __future__ import annotations

import pytest
from flask import Flask
from jinja2 import DictLoader

from idp.mail.render import language_of, render_mail
from tests.helpers import make_tenant

CONTEXT = {"link": "http://localhost/a/acme/verify-email/abc", "email": "a@example.com", "name": "Ana",
           "expires_in": "24 hours"}


def test_english_message_is_branded_and_escaped(app: Flask) -> None:
    tenant = make_tenant(name="Tom & Jerry's <Swim> School")
    mail = render_mail(tenant, "verify_email", None, **CONTEXT)
    assert mail.subject == "Confirm your email address for Tom & Jerry's <Swim> School"
    assert "Tom & Jerry's <Swim> School" in mail.text, "plain text is not HTML-escaped"
    assert "Tom &amp; Jerry&#39;s &lt;Swim&gt; School" in mail.html
    assert CONTEXT["link"] in mail.text and f'href="{CONTEXT["link"]}"' in mail.html


def test_a_known_language_is_used_and_an_unknown_one_falls_back(app: Flask, extra_templates: DictLoader) -> None:
    extra_templates.mapping.update({
        "mail/fr/verify_email.txt": '{% set subject = "Confirmez votre adresse" %}Bonjour {{ name }}\n{{ link }}\n',
        "mail/fr/verify_email.html": "<p>Bonjour {{ name }}</p>",
    })
    tenant = make_tenant()
    french = render_mail(tenant, "verify_email", "fr-CA", **CONTEXT)
    assert french.subject == "Confirmez votre adresse" and french.text.startswith("Bonjour Ana")
    german = render_mail(tenant, "verify_email", "de", **CONTEXT)
    assert german.subject.startswith("Confirm your email address")


def test_a_tenant_can_override_a_template(app: Flask, extra_templates: DictLoader) -> None:
    extra_templates.mapping["tenants/acme/mail/en/verify_email.txt"] = (
        '{% set subject = "Welcome to the pool, " ~ name %}Splash! {{ link }}\n')
    acme = make_tenant()
    other = make_tenant("other", "Other Gym")
    assert render_mail(acme, "verify_email", None, **CONTEXT).subject == "Welcome to the pool, Ana"
    assert render_mail(other, "verify_email", None, **CONTEXT).subject.startswith("Confirm your email")


@pytest.mark.parametrize(
    ("locale", "language"),
    [(None, "en"), ("", "en"), ("pt-BR", "pt"), ("EN_gb", "en"), ("../../etc", "en"), ("x" * 40, "en")],
)
def test_language_of(locale: str | None, language: str) -> None:
    assert language_of(locale) == language
