"""Bearer-token authentication for the admin API: a live access token of this tenant with a scope.

Tokens come from the token endpoint (typically `client_credentials` for a portal's back end);
`idp.oauth.tokens.verify_access_token` checks signature, issuer, tenant, expiry and revocation.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import g, request

from idp.errors import InsufficientScope, InvalidToken
from idp.oauth.issuers import tenant_issuers
from idp.oauth.tokens import AccessToken, verify_access_token
from idp.tenancy.context import current_tenant

F = TypeVar("F", bound=Callable[..., Any])


def bearer_token() -> str:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def require_scope(*scopes: str) -> Callable[[F], F]:
    """The view runs only for a live access token of this tenant carrying one of `scopes`
    (RFC 6750 §3.1: 401 invalid_token, 403 insufficient_scope); the token is `g.api_token`."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            tenant = current_tenant()
            token: AccessToken | None = verify_access_token(tenant, bearer_token(), tenant_issuers(tenant))
            if token is None:
                raise InvalidToken("A valid access token of this tenant is required.")
            if not set(scopes) & set(token.scopes):
                raise InsufficientScope(f"This needs the scope {' or '.join(scopes)}.")
            g.api_token = token
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator
