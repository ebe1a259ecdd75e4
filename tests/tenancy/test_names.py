"""Account names (docs/architecture.md §Tenancy): pure rules, no database."""

from __future__ import annotations

import pytest

from idp.tenancy.names import (
    RESERVED_ACCOUNTS,
    InvalidAccountName,
    looks_like_account_name,
    validate_account_name,
)


@pytest.mark.parametrize(
    "name",
    [
        "abc",  # shortest
        "a" * 63,  # longest
        "acme",
        "blue-lagoon",
        "a-b",
        "a--b",  # inner hyphens may repeat
        "123",  # digits only
        "9lives",
        "swim-school-2",
        "x" + "-" * 61 + "y",
    ],
)
def test_valid_account_names(name: str) -> None:
    assert validate_account_name(name) == name
    assert looks_like_account_name(name)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "3 to 63"),
        ("a", "3 to 63"),
        ("ab", "3 to 63"),
        ("a" * 64, "3 to 63"),
        ("a" * 1000, "3 to 63"),
        ("Acme", "lower-case"),
        ("ACME", "lower-case"),
        ("ac_me", "lower-case"),
        ("ac.me", "lower-case"),
        ("ac me", "lower-case"),
        ("acmé", "lower-case"),
        ("аcme", "lower-case"),  # Cyrillic a: a look-alike must not pass
        ("ac/me", "lower-case"),
        ("acme!", "lower-case"),
        ("-acme", "hyphen"),
        ("acme-", "hyphen"),
        ("---", "hyphen"),
        ("-a-", "hyphen"),
        ("acme\n", "lower-case"),  # `$` would match before a trailing newline
        ("\nacme", "lower-case"),
        ("acme\x00", "lower-case"),
        (" acme", "lower-case"),
        ("acme ", "lower-case"),
    ],
)
def test_invalid_account_names(name: str, reason: str) -> None:
    with pytest.raises(InvalidAccountName) as info:
        validate_account_name(name)
    assert reason in str(info.value)
    if 3 <= len(name) <= 63:
        assert not looks_like_account_name(name)


@pytest.mark.parametrize("name", ["www", "app", "api", "admin", "static", "login", "well-known", "localhost"])
def test_reserved_names_are_refused(name: str) -> None:
    assert name in RESERVED_ACCOUNTS
    with pytest.raises(InvalidAccountName, match="reserved"):
        validate_account_name(name)
    # Syntax alone accepts them: routing may see them, creating one is refused.
    assert looks_like_account_name(name)


def test_every_reserved_name_is_refused() -> None:
    for name in RESERVED_ACCOUNTS:
        with pytest.raises(InvalidAccountName):
            validate_account_name(name)


def test_reserved_names_are_not_prefixes() -> None:
    for name in ("www2", "apis", "admin-team", "my-app"):
        assert validate_account_name(name) == name


def test_invalid_account_name_is_a_value_error() -> None:
    assert issubclass(InvalidAccountName, ValueError)
