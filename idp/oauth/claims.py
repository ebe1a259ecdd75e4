"""Which claims about a person each scope releases (OIDC Core §5.4), plus the tenant."""

from __future__ import annotations

from typing import Any

from idp.accounts.landing import landing_page
from idp.accounts.models import User
from idp.tenancy.models import Tenant

SCOPE_CLAIMS = {
    "profile": ("name",),
    "email": ("email", "email_verified"),
}


def for_scopes(tenant: Tenant, user: User, scopes: list[str]) -> dict[str, Any]:
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
    return claims


def supported_claims() -> list[str]:
    names = ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "sid", "at_hash", "azp", "tenant",
             "landing_page", "idp"]
    return names + [claim for claims in SCOPE_CLAIMS.values() for claim in claims]
