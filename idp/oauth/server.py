"""Authlib's authorization server, adapted to tenants: the one place where the grants, client
authentication methods and endpoints are registered. Each lives in a module named for its spec:
`code_grant` (RFC 6749 §4.1), `pkce` (RFC 7636), `refresh_grant` (§6), `client_credentials_grant`
(§4.4), `id_token` (OIDC Core), `client_auth` (§2.3, RFC 7523), `revocation` (RFC 7009),
`introspection` (RFC 7662).

Authlib supplies the protocol machinery; those modules only supply storage and tenancy. Every
lookup goes through the tenant resolved for the request (`current_tenant()`), and the issuer is
the one the request arrived at (`issuers.current_issuer()`).
"""

from __future__ import annotations

from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.integrations.flask_oauth2.requests import FlaskOAuth2Payload
from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc6749.errors import InvalidRequestError
from flask import Flask, current_app
from flask import request as flask_request

from idp.oauth import clients
from idp.oauth.client_auth import PrivateKeyJWT, client_secret_basic
from idp.oauth.client_credentials_grant import ClientCredentialsGrant
from idp.oauth.clients import cached_client_snapshot, find_client
from idp.oauth.code_grant import AuthorizationCodeGrant, refuse_request_objects
from idp.oauth.id_token import OpenIDTokens, add_id_token_on_refresh
from idp.oauth.introspection import Introspection
from idp.oauth.oauth_client import OAuthClient
from idp.oauth.pkce import StrictCodeChallenge
from idp.oauth.refresh_grant import RefreshTokenGrant
from idp.oauth.requests import TenantRequest
from idp.oauth.revocation import Revocation
from idp.tenancy.context import current_tenant


class Server(AuthorizationServer):
    def query_client(self, client_id: str) -> OAuthClient | None:
        """The client authenticating at the token, revocation or introspection endpoint or named
        at the authorization endpoint: only read there, so a read-only snapshot while it is cached."""
        if not isinstance(client_id, str):
            return None
        tenant = current_tenant()
        model = cached_client_snapshot(tenant, client_id) or find_client(tenant, client_id)
        return OAuthClient(model) if model is not None else None

    def create_token_response(self, request: Any = None) -> Any:
        """Refuse, before any grant, what RFC 6749 forbids and Authlib would let by: a parameter
        given twice (§3.2; Authlib reads the first) and a client authenticating in more than one
        way (§2.3; Authlib tries the methods in turn)."""
        oauth_request = self.create_oauth2_request(request)
        problem = _not_one_of_each(oauth_request)
        if problem is not None:
            return self.handle_error_response(oauth_request, InvalidRequestError(description=problem))
        return super().create_token_response(oauth_request)

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        """Refresh tokens are stored as they are generated; access tokens are self-contained."""

    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        if isinstance(request, OAuth2Request):
            return request
        return TenantRequest(
            flask_request.method, None, flask_request.headers,
            FlaskOAuth2Payload(flask_request), flask_request.form, flask_request.args,
        )

    def validate_requested_scope(self, scope: str | None) -> None:
        """Scopes are checked per client (OAuthClient.get_allowed_scope), not globally."""

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        """No Flask signals: nothing in Portcullis listens to them."""


def _not_one_of_each(request: OAuth2Request) -> str | None:
    repeated = sorted(name for name, values in request.payload.datalist.items() if len(values) > 1)
    if repeated:
        return f"{repeated[0]} is given more than once"
    form = request.payload.data
    scheme = (request.headers.get("Authorization") or "").strip().partition(" ")[0]
    if (scheme.lower() == "basic") + ("client_secret" in form) + ("client_assertion" in form) > 1:
        return "the client authenticates in more than one way"
    return None


def create_server(app: Flask) -> Server:
    server = Server()
    server.init_app(app)
    clients.init_app(app)
    server.register_client_auth_method("client_secret_basic", client_secret_basic)
    server.register_client_auth_method("private_key_jwt", PrivateKeyJWT())
    server.register_grant(AuthorizationCodeGrant, [StrictCodeChallenge(required=True), OpenIDTokens(),
                                                   refuse_request_objects])
    server.register_grant(RefreshTokenGrant, [add_id_token_on_refresh])
    server.register_grant(ClientCredentialsGrant)
    server.register_endpoint(Revocation)
    server.register_endpoint(Introspection)
    app.extensions["idp.oauth"] = server
    return server


def authorization_server() -> Server:
    server: Server = current_app.extensions["idp.oauth"]
    return server
