"""The refresh token grant (RFC 6749 §6): rotation on every use, reuse revoking the grant
(RFC 9700 §4.14)."""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import grants

from idp.accounts.models import User
from idp.oauth import grants as grant_service
from idp.oauth.client_auth import AUTH_METHODS
from idp.oauth.models import Grant
from idp.oauth.oauth_client import OAuthClient
from idp.oauth.token_issuing import TokenIssuing
from idp.tenancy.context import current_tenant


class RefreshTokenGrant(TokenIssuing, grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> Grant | None:
        client: OAuthClient = self.request.client
        try:
            spent = grant_service.spend_refresh_token(current_tenant(), refresh_token, client.model.id)
        except grant_service.GrantError:
            return None
        self.request.grant_row = spent.grant
        self.request.next_refresh_token = spent.next_token
        return _GrantToken(spent.grant, spent.user)  # type: ignore[return-value]

    def authenticate_user(self, refresh_token: Any) -> User | None:
        user: User | None = refresh_token.user  # loaded with the grant, in the same statement
        return user

    def revoke_old_credential(self, refresh_token: Any) -> None:
        """Spent in authenticate_refresh_token, atomically."""


class _GrantToken:
    """Authlib's TokenMixin view of a grant reached through a refresh token, with its person."""

    def __init__(self, grant: Grant, user: User | None) -> None:
        self.grant = grant
        self.user = user

    def check_client(self, client: OAuthClient) -> bool:
        return client.model.id == self.grant.client_pk

    def get_scope(self) -> str:
        return self.grant.scope
