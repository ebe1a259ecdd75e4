"""The client credentials grant (RFC 6749 §4.4): admin API scopes for operator-made clients."""

from __future__ import annotations

from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import InvalidScopeError

from idp.oauth.client_auth import CONFIDENTIAL_AUTH_METHODS
from idp.oauth.oauth_client import OAuthClient
from idp.oauth.token_issuing import TokenIssuing


class ClientCredentialsGrant(TokenIssuing, grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = CONFIDENTIAL_AUTH_METHODS

    def validate_requested_scope(self) -> None:
        client: OAuthClient = self.request.client
        requested = (self.request.payload.scope or "").split()
        allowed = client.machine_scopes()
        if any(scope not in allowed for scope in requested):
            raise InvalidScopeError()
        self.request.scope = " ".join(dict.fromkeys(requested)) if requested else " ".join(sorted(allowed))
