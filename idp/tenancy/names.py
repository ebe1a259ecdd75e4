"""Account names (docs/architecture.md §Tenancy): 3–63 chars of [a-z0-9-], no edge hyphen, not reserved."""

from __future__ import annotations

import re

from idp.errors import InvalidInput

# \Z, not $: `$` also matches before a trailing newline, which would let "acme\n" through.
ACCOUNT_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,61}[a-z0-9])\Z")

RESERVED_ACCOUNTS = frozenset(
    {
        "www", "app", "api", "admin", "static", "assets", "auth", "login", "logout", "account",
        "accounts", "mail", "smtp", "status", "help", "support", "docs", "idp", "sso", "oauth",
        "oidc", "well-known", "portcullis", "root", "system", "test", "localhost",
    }
)


class InvalidAccountName(InvalidInput):
    """The account name breaks a rule; the message says which, in words a person reads."""


def validate_account_name(value: str) -> str:
    """Return `value` if it is a usable new account name, else raise InvalidAccountName."""
    if not 3 <= len(value) <= 63:
        raise InvalidAccountName("An account name is 3 to 63 characters long.")
    if not ACCOUNT_PATTERN.match(value):
        raise InvalidAccountName(
            "An account name uses only lower-case letters, digits and hyphens, "
            "and does not start or end with a hyphen."
        )
    if value in RESERVED_ACCOUNTS:
        raise InvalidAccountName(f"'{value}' is reserved; choose another account name.")
    return value


def looks_like_account_name(value: str) -> bool:
    """True if `value` could name an account (syntax only, reserved names included)."""
    return bool(ACCOUNT_PATTERN.match(value))
