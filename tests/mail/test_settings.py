"""IDP_SMTP_URL and IDP_MAIL_FROM: read once, errors name the setting."""

from __future__ import annotations

import pytest

from idp.config import ConfigError, load_config
from idp.smtp_url import parse_smtp_url

BASE_ENV = {"IDP_MASTER_KEY": "A" * 43 + "="}


@pytest.mark.parametrize(
    ("url", "security", "host", "port", "username", "password"),
    [
        ("smtp://relay.internal", "none", "relay.internal", 25, None, None),
        ("smtp+starttls://u%40x.example:p%3Ass@mail.example.com", "starttls", "mail.example.com", 587,
         "u@x.example", "p:ss"),
        ("smtps://user:pw@mail.example.com:2465", "tls", "mail.example.com", 2465, "user", "pw"),
    ],
)
def test_parse_smtp_url(url: str, security: str, host: str, port: int, username: str | None,
                        password: str | None) -> None:
    settings = parse_smtp_url(url)
    assert (settings.security, settings.host, settings.port, settings.username, settings.password) == (
        security, host, port, username, password)
    assert "pw" not in repr(settings) or password is None


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://mail.example.com", "must start with smtp://"),
        ("smtp://", "must name a host"),
        ("smtp://mail.example.com:99999", "port"),
        ("smtp://mail.example.com/path", "no path"),
        ("smtp://mail.example.com?tls=yes", "unknown parameter"),
        ("smtp://mail.example.com?timeout=0", "timeout"),
    ],
)
def test_bad_smtp_urls_are_refused_at_start_up(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match="IDP_SMTP_URL") as error:
        load_config({**BASE_ENV, "IDP_SMTP_URL": url})
    assert message in str(error.value)


def test_mail_from(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert load_config(BASE_ENV).mail_from_address == "no-reply@localhost"
    assert load_config({**BASE_ENV, "IDP_MAIL_FROM": "hello@swim.example"}).mail_from_address == "hello@swim.example"
    with pytest.raises(ConfigError, match="IDP_MAIL_FROM"):
        load_config({**BASE_ENV, "IDP_MAIL_FROM": "Swim <hello@swim.example>"})
