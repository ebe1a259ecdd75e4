"""Token introspection (RFC 7662), for the client a token was issued to."""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc7662 import IntrospectionEndpoint

from idp.oauth.client_auth import CONFIDENTIAL_AUTH_METHODS
from idp.oauth.oauth_client import OAuthClient
from idp.oauth.token_lookup import IgnoredTokenTypeHint, find_token


class Introspection(IgnoredTokenTypeHint, IntrospectionEndpoint):
    """RFC 7662: only for confidential clients, and only for tokens issued to the asking client;
    foreign or dead tokens are simply inactive (docs/decisions/introspection-own-tokens.md)."""

    CLIENT_AUTH_METHODS = CONFIDENTIAL_AUTH_METHODS

    def query_token(self, token_string: str, token_type_hint: str | None) -> Any:
        return find_token(token_string)

    def check_permission(self, token: Any, client: OAuthClient, request: OAuth2Request) -> bool:
        """RFC 7662 §4: the server decides who may learn what a token is; here only the client it
        was issued to (anyone else would learn another client's `sub` and `scope`)."""
        return bool(token.check_client(client))

    def introspect_token(self, token: Any) -> dict[str, Any]:
        return token.introspection()
