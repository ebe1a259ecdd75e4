"""Email addresses as sign-in identifiers: pure functions, no database."""

from __future__ import annotations

import pytest

from idp.accounts.emails import MAX_EMAIL_LENGTH, InvalidEmail, normalize_email, validate_email


@pytest.mark.parametrize(
    ("typed", "normalized"),
    [
        ("coach@example.com", "coach@example.com"),
        ("Coach@Example.COM", "coach@example.com"),
        ("  coach@example.com  ", "coach@example.com"),
        ("\tCOACH@EXAMPLE.COM\n", "coach@example.com"),
        ("First.Last+Tag@Sub.Example.org", "first.last+tag@sub.example.org"),
        ("ÉLODIE@exemple.fr", "élodie@exemple.fr"),
    ],
)
def test_normalize_email_trims_and_lowercases(typed: str, normalized: str) -> None:
    assert normalize_email(typed) == normalized
    assert normalize_email(normalized) == normalized, "normalizing twice changes nothing"


def test_differently_typed_addresses_normalize_alike() -> None:
    variants = ["coach@example.com", "COACH@EXAMPLE.COM", " Coach@Example.com ", "coach@EXAMPLE.com\n"]
    assert len({normalize_email(v) for v in variants}) == 1


@pytest.mark.parametrize(
    ("typed", "kept"),
    [
        ("a@b.co", "a@b.co"),
        ("  Coach@Example.com ", "Coach@Example.com"),  # trimmed, case kept for display
        ("first.last+tag@sub.example.org", "first.last+tag@sub.example.org"),
        ("o'brien@example.ie", "o'brien@example.ie"),
        ("élodie@exemple.fr", "élodie@exemple.fr"),
        ("x@xn--bcher-kva.example", "x@xn--bcher-kva.example"),
        ("l" * 64 + "@example.com", "l" * 64 + "@example.com"),
    ],
)
def test_valid_emails(typed: str, kept: str) -> None:
    assert validate_email(typed) == kept


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "   ",
        "coach",
        "coach@",
        "@example.com",
        "coach@example",
        "coach@@example.com",
        "co@ch@example.com",
        "coach@example.",
        "coach@.com",
        "coach @example.com",
        "coach@exa mple.com",
        "coach@example.com,other@example.com",  # two addresses: the comma makes no dot-less TLD
        "coach\x00@example.com",
        "coach\n@example.com",
        "coach@example.com\x7f",
        "l" * 65 + "@example.com",  # local part over 64
        "a@" + "d" * (MAX_EMAIL_LENGTH - 5) + ".com",  # whole address over 254
        "coach@example.c\ufffd",  # undecodable bytes arrive as U+FFFD
        "co\udcffch@example.com",  # ... or as a lone surrogate (surrogateescape)
        "\ud800@example.com",  # a JSON "\ud800" escape
    ],
)
def test_invalid_emails(typed: str) -> None:
    with pytest.raises(InvalidEmail):
        validate_email(typed)


def test_invalid_email_messages_are_for_people() -> None:
    with pytest.raises(InvalidEmail, match="such as name@example.com"):
        validate_email("coach")
    with pytest.raises(InvalidEmail, match="could not be read"):
        validate_email("co\ufffdch@example.com")
