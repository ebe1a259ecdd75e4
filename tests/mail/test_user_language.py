"""A person's mail is in their language (User.locale, set by tenant TOML or `idp user create
--locale`) when a template exists for it, else in English; sent through a real SMTP server."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from jinja2 import DictLoader
from sqlalchemy import select

from idp.accounts.models import User
from idp.db import db
from idp.provisioning.tenant_file import TenantFileError
from tests.accounts.link_flows import forgot_password
from tests.helpers import apply_tenant_file
from tests.mail.support import deliver, link_in, text_of

pytestmark = pytest.mark.usefixtures("smtp_mailbox")

FRENCH = {
    "mail/fr/reset_password.txt": '{% set subject = "Réinitialisez votre mot de passe " ~ tenant.name %}'
                                  "Bonjour {{ name }},\n\n{{ link }}\n\nLe lien expire dans {{ expires_in }}.\n",
    "mail/fr/reset_password.html": '<p>Bonjour {{ name }}</p><p><a href="{{ link }}">Réinitialiser</a></p>',
}

TOML = """
account = "acme"
name = "Acme Swim School"
[[users]]
email = "ana@example.com"
name = "Ana"
password = "correct horse battery"
locale = "fr-CA"
[[users]]
email = "dieter@example.com"
name = "Dieter"
password = "correct horse battery"
locale = "de"
[[users]]
email = "casey@example.com"
name = "Casey"
password = "correct horse battery"
"""


def apply(tmp_path: Path, text: str) -> None:
    path = tmp_path / "t.toml"
    path.write_text(text)
    apply_tenant_file(path)


def test_mail_is_in_the_persons_language_when_we_have_it(app: Flask, client: FlaskClient, tmp_path: Path,
                                                          extra_templates: DictLoader) -> None:
    extra_templates.mapping.update(FRENCH)
    apply(tmp_path, TOML)
    locales = {email: locale for email, locale in db.session.execute(select(User.email, User.locale))}
    assert locales == {"ana@example.com": "fr-CA", "dieter@example.com": "de", "casey@example.com": None}
    for email in locales:
        assert forgot_password(client, email).status_code == 200
    by_address = {message["To"]: message for message in deliver(app)}
    french = by_address["ana@example.com"]
    assert french["Subject"] == "Réinitialisez votre mot de passe Acme Swim School"
    assert text_of(french).startswith("Bonjour Ana") and "/a/acme/reset-password/" in link_in(french)
    for email in ("dieter@example.com", "casey@example.com"):  # no German templates: English
        assert by_address[email]["Subject"] == "Reset your Acme Swim School password"


def test_the_file_sets_the_locale_of_existing_users_too(app: Flask, tmp_path: Path) -> None:
    apply(tmp_path, TOML)
    apply(tmp_path, TOML.replace('locale = "de"', 'locale = "de-AT"'))
    db.session.expire_all()
    assert db.session.execute(select(User.locale).where(User.email == "dieter@example.com")).scalar_one() == "de-AT"


@pytest.mark.parametrize("locale", ['"x"', '"english"', '"fr_CA"', '"fr-"', '"' + "a-" * 20 + 'b"', '"<b>"', "5"])
def test_a_bad_locale_is_refused(app: Flask, tmp_path: Path, locale: str) -> None:
    with pytest.raises(TenantFileError, match="locale"):
        apply(tmp_path, TOML.replace('"fr-CA"', locale))
    assert db.session.execute(select(User)).first() is None
