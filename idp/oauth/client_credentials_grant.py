"""The client credentials grant (RFC 6749 §4.4): admin API scopes for operator-made clients."""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import InvalidScopeError

from idp.accounts.models import User
from idp.oauth.client_auth import CONFIDENTIAL_AUTH_METHODS
from idp.oauth.oauth_client import OAuthClient
from idp.oauth.token_issuing import TokenIssuing


class ClientCredentialsGrant(TokenIssuing, grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = CONFIDENTIAL_AUTH_METHODS

    def validate_requested_scope(self) -> None:
        scope = machine_scope(self.request.client, self.request.payload.scope)
        if scope is None:
            raise InvalidScopeError()
        self.request.scope = scope

    def generate_token(
        self, user: User | None = None, scope: str | None = None, grant_type: str | None = None,
        expires_in: int | None = None, include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        """Authlib passes the raw `scope` parameter; the token carries the one settled above
        (each scope once), as the plain path's does (plain_client_credentials.py)."""
        return super().generate_token(user, self.request.scope, grant_type, expires_in, include_refresh_token)


def machine_scope(client: OAuthClient, requested: str | None) -> str | None:
    """The scope a client_credentials grant issues for `requested`: the scopes asked for (each
    once, in order), or all the client's machine scopes when none is; None when one is not the
    client's (invalid_scope)."""
    asked = (requested or "").split()
    allowed = client.machine_scopes()
    if any(scope not in allowed for scope in asked):
        return None
    return " ".join(dict.fromkeys(asked)) if asked else " ".join(sorted(allowed))
