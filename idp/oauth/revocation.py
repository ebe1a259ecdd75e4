"""Token revocation (RFC 7009)."""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc7009 import RevocationEndpoint

from idp.oauth import grants as grant_service
from idp.oauth import tokens
from idp.oauth.client_auth import AUTH_METHODS
from idp.oauth.token_lookup import IgnoredTokenTypeHint, RefreshTokenView, find_token
from idp.tenancy.context import current_tenant


class Revocation(IgnoredTokenTypeHint, RevocationEndpoint):
    """RFC 7009: refresh tokens (revoking the grant) and access tokens (by jti)."""

    CLIENT_AUTH_METHODS = AUTH_METHODS

    def query_token(self, token_string: str, token_type_hint: str | None) -> Any:
        return find_token(token_string)

    def revoke_token(self, token: Any, request: OAuth2Request) -> None:
        tenant = current_tenant()
        if isinstance(token, RefreshTokenView):
            grant_service.revoke_grant(token.grant)
        else:
            tokens.revoke_access_token(tenant, token.access)
