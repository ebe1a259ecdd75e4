"""Email addresses as sign-in identifiers (docs/architecture.md §People). Pure functions."""

from __future__ import annotations

import re

from idp.errors import InvalidInput
from idp.text import has_unreadable_characters

MAX_EMAIL_LENGTH = 254
# Deliberately plain: one @, a local part without spaces or controls, a dotted domain.
_EMAIL = re.compile(r"^[^@\s\x00-\x1f\x7f]{1,64}@[^@\s\x00-\x1f\x7f]+\.[^@\s\x00-\x1f\x7f.]+$")


class InvalidEmail(InvalidInput):
    """Not an email address we accept."""


def normalize_email(value: str) -> str:
    """The form that uniqueness and look-ups use: trimmed and case-folded."""
    return value.strip().lower()


def validate_email(value: str) -> str:
    """The trimmed address as the person typed it, or InvalidEmail."""
    value = value.strip()
    if not value or len(value) > MAX_EMAIL_LENGTH or not _EMAIL.match(value):
        raise InvalidEmail("Enter an email address such as name@example.com.")
    if has_unreadable_characters(value):
        raise InvalidEmail("The email address contains characters that could not be read.")
    return value
