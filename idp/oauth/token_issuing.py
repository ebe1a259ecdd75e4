"""What every grant issues: an RFC 9068 JWT access token and, for a grant of a person, a rotated
refresh token (RFC 6749 §5.1)."""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import OAuth2Request

from idp import metrics
from idp.accounts.models import User
from idp.oauth import grants as grant_service
from idp.oauth import tokens
from idp.oauth.claims import family_claim
from idp.oauth.issuers import current_issuer
from idp.oauth.models import Grant
from idp.oauth.oauth_client import OAuthClient
from idp.tenancy.context import current_tenant


class TokenIssuing:
    """Token generation with the grant's context: JWT access tokens and rotated refresh tokens."""

    request: OAuth2Request

    def generate_token(
        self, user: User | None = None, scope: str | None = None, grant_type: str | None = None,
        expires_in: int | None = None, include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        tenant = current_tenant()
        client: OAuthClient = self.request.client
        grant: Grant | None = getattr(self.request, "grant_row", None)
        metrics.TOKENS_ISSUED.labels(grant_type or getattr(self, "GRANT_TYPE", None) or "unknown").inc()
        scope = scope or self.request.scope or ""
        family = family_claim(tenant, grant.user_id, grant.family_id, scope.split()) if grant else None
        access_token = tokens.issue_access_token(
            tenant, issuer=grant.issuer if grant else current_issuer(), client_id=client.get_client_id(),
            sub=user.sub if user else client.get_client_id(), scope=scope, grant_id=grant.id if grant else None,
            auth_time=int(grant.auth_time.timestamp()) if grant and grant.auth_time else None, family=family,
        )
        token = bearer_token(access_token, scope)
        if include_refresh_token and grant is not None:
            stored: str | None = getattr(self.request, "next_refresh_token", None)  # rotated while spent
            token["refresh_token"] = stored or grant_service.issue_refresh_token(tenant, grant)
        return token


def bearer_token(access_token: str, scope: str) -> dict[str, Any]:
    """The token response's members for an access token (RFC 6749 §5.1)."""
    return {"token_type": "Bearer", "access_token": access_token, "expires_in": tokens.ACCESS_TOKEN_LIFETIME,
            "scope": scope}
