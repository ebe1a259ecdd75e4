"""Which claims about a person each scope releases (OIDC Core §5.4), plus the tenant.

The `family` scope releases the `family` claim: the family chosen in the sign-in that made the
grant, as it stands now. Families sit above the protocol, so they hand their answers in at
start-up (`init_app`, from `idp/app.py`); nothing here imports them.
"""

from __future__ import annotations

from typing import Any, Protocol

from flask import Flask, current_app

from idp.accounts.landing import landing_page
from idp.accounts.models import User
from idp.sessions.models import BrowserSession
from idp.tenancy.models import Tenant

FAMILY_SCOPE = "family"
FAMILIES_KEY = "idp.family_claims"


class FamilyClaims(Protocol):
    def chosen(self, tenant: Tenant, user: User, session: BrowserSession) -> str | None:
        """The family a grant made now, in this session, is for (None: no family)."""

    def claim(self, tenant: Tenant, user_id: str, family_id: str) -> dict[str, str] | None:
        """`{"id", "name", "role", "access"}` while the person still belongs to it, else None."""


def init_app(app: Flask, families: FamilyClaims) -> None:
    app.extensions[FAMILIES_KEY] = families


def chosen_family(tenant: Tenant, user: User, session: BrowserSession) -> str | None:
    families: FamilyClaims | None = current_app.extensions.get(FAMILIES_KEY)
    return families.chosen(tenant, user, session) if families is not None and user.pool == "customer" else None


def family_claim(tenant: Tenant, user_id: str | None, family_id: str | None,
                 scopes: list[str]) -> dict[str, str] | None:
    """The `family` claim for a token of these scopes, or None."""
    families: FamilyClaims | None = current_app.extensions.get(FAMILIES_KEY)
    if families is None or not family_id or not user_id or FAMILY_SCOPE not in scopes:
        return None
    return families.claim(tenant, user_id, family_id)

SCOPE_CLAIMS = {
    "profile": ("name",),
    "email": ("email", "email_verified"),
}


def for_scopes(tenant: Tenant, user: User, scopes: list[str], family_id: str | None = None) -> dict[str, Any]:
    claims: dict[str, Any] = {"sub": user.sub, "tenant": tenant.account}
    if user.pool == "staff":  # where the portal opens after sign-in (idp/accounts/landing.py)
        page = landing_page(user)
        if page is not None:
            claims["landing_page"] = page
    if "profile" in scopes and user.name:
        claims["name"] = user.name
    if "email" in scopes:
        claims["email"] = user.email
        claims["email_verified"] = bool(user.email_verified)
    family = family_claim(tenant, user.id, family_id, scopes)
    if family is not None:
        claims["family"] = family
    return claims


def supported_claims() -> list[str]:
    names = ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "sid", "at_hash", "azp", "tenant",
             "landing_page", "idp", "family"]
    return names + [claim for claims in SCOPE_CLAIMS.values() for claim in claims]
