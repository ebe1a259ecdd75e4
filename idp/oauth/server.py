"""Authlib's authorization server, adapted to tenants: the only place that wires Authlib in.

Authlib supplies the protocol machinery (RFC 6749 grants, RFC 7636, OIDC Core, RFC 7009,
RFC 7662, RFC 7523 client assertions); the subclasses here only supply storage and tenancy.
Every lookup goes through the tenant resolved for the request (`current_tenant()`), and the
issuer is the one the request arrived at (`current_route().issuer`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.integrations.flask_oauth2.requests import FlaskOAuth2Payload
from authlib.oauth2.rfc6749 import OAuth2Request, grants
from authlib.oauth2.rfc6749.errors import (
    InvalidClientError,
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
)
from authlib.oauth2.rfc6749.requests import OAuth2Payload
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oidc.core import OpenIDCode
from authlib.oidc.core.errors import RequestNotSupportedError, RequestURINotSupportedError
from flask import Flask
from flask import request as flask_request
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy.exc import IntegrityError

from idp import clock
from idp.accounts.models import User
from idp.accounts.service import get_user
from idp.db import db
from idp.oauth import claims as user_claims
from idp.oauth import grants as grant_service
from idp.oauth import tokens
from idp.oauth.client_metadata import SCOPES, is_loopback_host
from idp.oauth.clients import check_client_secret, find_client
from idp.oauth.models import Client, Grant, UsedClientAssertion
from idp.tenancy.context import current_route, current_tenant
from idp.tenancy.models import Tenant

PKCE_METHODS = ["S256"]
AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]
CONFIDENTIAL_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]
MAX_ASSERTION_LIFETIME = 300  # seconds a client assertion's exp may lie ahead (RFC 7523 §3)


def current_issuer() -> str:
    issuer = current_route().issuer
    assert issuer is not None  # protocol endpoints only exist under a tenant
    return issuer


class OAuthClient:
    """Authlib's ClientMixin over a stored Client."""

    def __init__(self, model: Client) -> None:
        self.model = model
        self.metadata = model.client_metadata

    def get_client_id(self) -> str:
        return self.model.client_id

    def get_default_redirect_uri(self) -> str | None:
        uris = self.model.redirect_uris
        return uris[0] if len(uris) == 1 else None  # several registered: the request must name one

    def get_allowed_scope(self, scope: str | None) -> str:
        """What a person may grant at the authorization endpoint: OIDC scopes only. Admin API
        scopes are machine scopes, issued by client_credentials alone (the admin API does not
        check the person's own permissions)."""
        allowed = [s for s in self.model.scope.split() if s in SCOPES]
        if not scope:
            return " ".join(allowed)
        return " ".join(s for s in dict.fromkeys(scope.split()) if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return matches_redirect_uri(redirect_uri, self.model.redirect_uris, self.model.application_type)

    def check_client_secret(self, client_secret: str) -> bool:
        return check_client_secret(self.model, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == self.model.token_endpoint_auth_method

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.model.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        if grant_type == "client_credentials" and self.model.self_registered:
            return False  # also for clients registered before registration refused it
        return grant_type in self.model.grant_types

    def machine_scopes(self) -> set[str]:
        """The scopes client_credentials may issue: the operator-given ones; none for a
        self-registered client (docs/decisions/admin-scopes-operator-only.md)."""
        if self.model.self_registered:
            return set()
        return set(self.model.scope.split()) - {"openid", "offline_access"}

    @property
    def id_token_signed_response_alg(self) -> str:
        return str(self.metadata.get("id_token_signed_response_alg", "RS256"))


def matches_redirect_uri(uri: str, registered: list[str], application_type: str) -> bool:
    """Exact match; for native clients a loopback URI matches on any port (RFC 8252 §7.3)."""
    if uri in registered:
        return True
    if application_type != "native":
        return False
    from urllib.parse import urlsplit

    asked = urlsplit(uri)
    if asked.scheme != "http" or not is_loopback_host(asked.hostname):
        return False
    for candidate in registered:
        known = urlsplit(candidate)
        if (known.scheme, known.hostname, known.path, known.query) == (
            asked.scheme, asked.hostname, asked.path, asked.query
        ):
            return True
    return False


class TenantRequest(OAuth2Request):
    """An OAuth2Request without Authlib's https check: TLS ends at the operator's proxy (which
    sets HSTS and IDP_TRUST_PROXY), and development runs on http loopback."""

    def __init__(self, method: str, uri: str | None, headers: Any, payload: Any, form: Any, args: Any) -> None:
        self.method = method
        self._uri = uri
        self.headers = headers
        self._body = None
        self.payload = payload
        self.client = None
        self.auth_method = None
        self.user = None
        self.authorization_code = None
        self.refresh_token = None
        self.credential = None
        self._scope = None
        self._form = form
        self._args = args

    @property
    def uri(self) -> str:
        """The request URL, built only if asked for: Werkzeug re-quotes every part, and grants never ask."""
        return self._uri if self._uri is not None else flask_request.url

    @property
    def form(self) -> Any:
        return self._form

    @property
    def args(self) -> Any:
        return self._args


class FormPayload(OAuth2Payload):
    """Parameters from name-value pairs: the first value of each for `data`, all of them for
    `datalist` (Authlib refuses a repeated authorization parameter), as Werkzeug's form gives
    them. For a token request's form (token_endpoint.py) and a stored authorization request."""

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        self._datalist: dict[str, list[str]] = {}
        for key, value in pairs:
            self._datalist.setdefault(key, []).append(value)
        self._data = {key: values[0] for key, values in self._datalist.items()}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> dict[str, list[str]]:
        return self._datalist


def stored_request(params: dict[str, str]) -> TenantRequest:
    """The pending authorization request's parameters, as they were validated."""
    return TenantRequest("GET", current_issuer() + "/authorize", {}, FormPayload(params.items()), {}, params)


class Server(AuthorizationServer):
    def query_client(self, client_id: str) -> OAuthClient | None:
        if not isinstance(client_id, str):
            return None
        model = find_client(current_tenant(), client_id)
        return OAuthClient(model) if model is not None else None

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
        scope = scope or self.request.scope or ""
        access_token = tokens.issue_access_token(
            tenant, issuer=grant.issuer if grant else current_issuer(), client_id=client.get_client_id(),
            sub=user.sub if user else client.get_client_id(), scope=scope, grant_id=grant.id if grant else None,
            auth_time=int(grant.auth_time.timestamp()) if grant and grant.auth_time else None,
        )
        token: dict[str, Any] = {
            "token_type": "Bearer", "access_token": access_token,
            "expires_in": tokens.ACCESS_TOKEN_LIFETIME, "scope": scope,
        }
        if include_refresh_token and grant is not None:
            stored: str | None = getattr(self.request, "next_refresh_token", None)  # rotated while spent
            token["refresh_token"] = stored or grant_service.issue_refresh_token(tenant, grant)
        return token


class StoredCode:
    """Authlib's AuthorizationCodeMixin over a spent code and its grant."""

    def __init__(self, redirect_uri: str | None, grant: Grant, code_challenge: str | None, method: str | None) -> None:
        self.redirect_uri = redirect_uri
        self.grant = grant
        self.code_challenge = code_challenge
        self.code_challenge_method = method

    def get_redirect_uri(self) -> str | None:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.grant.scope

    def get_nonce(self) -> str | None:
        return self.grant.nonce

    def get_auth_time(self) -> int | None:
        return int(self.grant.auth_time.timestamp()) if self.grant.auth_time else None

    def get_acr(self) -> str | None:
        return self.grant.acr

    def get_amr(self) -> list[str]:
        return self.grant.amr.split()


class AuthorizationCodeGrant(TokenIssuing, grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS

    @staticmethod
    def validate_authorization_redirect_uri(request: OAuth2Request, client: OAuthClient) -> str:
        """OIDC Core §3.1.2.1 makes redirect_uri REQUIRED in an OpenID request; plain OAuth may
        fall back to the one registered URI (RFC 6749 §3.1.2.3). Raised without a redirect URI,
        so the person gets an error page."""
        if not request.payload.redirect_uri and "openid" in (request.payload.scope or "").split():
            raise InvalidRequestError("redirect_uri is required in an OpenID Connect request.")
        return str(grants.AuthorizationCodeGrant.validate_authorization_redirect_uri(request, client))

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        raise NotImplementedError("codes are issued by idp.oauth.authorize")  # pragma: no cover

    def query_authorization_code(self, code: str, client: OAuthClient) -> StoredCode | None:
        try:
            row, grant = grant_service.spend_code(current_tenant(), code, client.model.id)
        except grant_service.GrantError:
            return None
        self.request.grant_row = grant
        return StoredCode(self._redirect_uri_to_match(row.redirect_uri, client), grant, row.code_challenge,
                          row.code_challenge_method)

    def _redirect_uri_to_match(self, requested: str, client: OAuthClient) -> str | None:
        """RFC 6749 §4.1.3: redirect_uri is required here only if the authorization request had
        one (`requested`, else empty). One sent anyway must be where the code went."""
        if requested:
            return requested
        if not self.request.payload.redirect_uri:
            return None
        sent_to = client.get_default_redirect_uri()
        if sent_to is None:  # the client registered more URIs since: where the code went is unknown
            raise InvalidGrantError("Invalid 'redirect_uri' in request.")
        return sent_to

    def delete_authorization_code(self, authorization_code: StoredCode) -> None:
        """Spent in query_authorization_code, atomically."""

    def authenticate_user(self, authorization_code: StoredCode) -> User | None:
        user_id = authorization_code.grant.user_id
        return get_user(current_tenant(), user_id) if user_id else None


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


class ClientCredentialsGrant(TokenIssuing, grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = CONFIDENTIAL_AUTH_METHODS

    def validate_requested_scope(self) -> None:
        client: OAuthClient = self.request.client
        requested = (self.request.payload.scope or "").split()
        allowed = client.machine_scopes()
        if any(scope not in allowed for scope in requested):
            raise InvalidScopeError()
        self.request.scope = " ".join(dict.fromkeys(requested)) if requested else " ".join(sorted(allowed))


class StrictCodeChallenge(CodeChallenge):
    """PKCE with S256 only (RFC 9700 §2.1.1); a public client must send a challenge."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = PKCE_METHODS

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if data.get("code_challenge") and not data.get("code_challenge_method"):
            raise InvalidRequestError("code_challenge_method must be S256")
        if grant.request.client.model.is_public and not data.get("code_challenge"):
            raise InvalidRequestError("public clients must use PKCE (code_challenge with S256)")
        super().validate_code_challenge(grant, redirect_uri)


class OpenIDTokens(OpenIDCode):
    """ID tokens signed with the tenant's key, carrying the grant's session and tenant."""

    def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
        return False  # a nonce is bound to its one code; codes are single use

    def get_client_algorithm(self, client: OAuthClient) -> str:
        return client.id_token_signed_response_alg

    def encode_id_token(self, token: dict[str, Any], request: OAuth2Request) -> str:
        grant: Grant = request.grant_row
        return build_id_token(grant, request.user, request.client, token, with_nonce=True)


def build_id_token(grant: Grant, user: User, client: OAuthClient, token: dict[str, Any], *, with_nonce: bool) -> str:
    tenant = current_tenant()
    alg = client.id_token_signed_response_alg
    now = int(clock.now().timestamp())
    claims: dict[str, Any] = {
        "iss": grant.issuer, "sub": user.sub, "aud": client.get_client_id(), "iat": now,
        "exp": now + tokens.ID_TOKEN_LIFETIME, "tenant": tenant.account, "amr": grant.amr.split(),
        "azp": client.get_client_id(),
    }
    if grant.auth_time:
        claims["auth_time"] = int(grant.auth_time.timestamp())
    if grant.nonce and with_nonce:
        claims["nonce"] = grant.nonce
    if grant.session_id:
        claims["sid"] = grant.session_id
    if grant.acr:
        claims["acr"] = grant.acr
    if token.get("access_token"):
        claims["at_hash"] = tokens.half_hash(token["access_token"], alg)
    claims.update(user_claims.for_scopes(tenant, user, token.get("scope", "").split()))
    return tokens.sign(tenant, claims, alg=alg)


def add_id_token_on_refresh(grant: Any) -> None:
    """OIDC Core §12.2: a refresh returns a new ID token (without nonce) for openid grants."""

    def hook(grant: Any, response: tuple[int, dict[str, Any], Any]) -> None:
        _, token, _ = response
        request = grant.request
        if "openid" in token.get("scope", "").split() and request.user is not None:
            token["id_token"] = build_id_token(request.grant_row, request.user, request.client, token, with_nonce=False)

    grant.register_hook("after_create_token_response", hook)


def refuse_request_objects(grant: Any) -> None:
    """OIDC Core §6: request objects are not supported (discovery says so), so `request` and
    `request_uri` are refused rather than ignored. Runs after the client and redirect URI are
    validated, so the error goes back to the client."""

    def hook(grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if "request" in data:
            raise RequestNotSupportedError("Request objects are not supported.")
        if "request_uri" in data:
            raise RequestURINotSupportedError("request_uri is not supported.")

    grant.register_hook("before_validate_authorization_request_payload", hook)


class PrivateKeyJWT(JWTBearerClientAssertion):
    """private_key_jwt (OIDC Core §9, RFC 7523 §3) with a `jti` replay check."""

    CLIENT_AUTH_METHOD = "private_key_jwt"

    def get_audiences(self) -> list[str]:
        issuer = current_issuer()
        return [issuer, issuer + "/token"]

    def resolve_client_public_key(self, client: OAuthClient) -> KeySet:
        """The client's registered keys; a set that does not load (stored before registration
        validated it) makes the client unable to authenticate, never a 500."""
        jwks: Any = client.metadata.get("jwks") or {"keys": []}
        try:
            return KeySet.import_key_set(jwks)
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise InvalidClientError(description="The client's registered keys cannot be used.") from exc

    def verify_claims(self, claims: Any) -> None:
        """RFC 7523 §3 lets the server bound how far ahead `exp` may be: an assertion is for one
        request, so at most MAX_ASSERTION_LIFETIME from now (also keeps `exp` a sane time)."""
        exp = claims.get("exp")
        latest = clock.now().timestamp() + MAX_ASSERTION_LIFETIME + self.leeway
        if not isinstance(exp, int | float) or isinstance(exp, bool) or not math.isfinite(exp) or exp > latest:
            raise InvalidClientError(description=f"exp must be at most {MAX_ASSERTION_LIFETIME} seconds ahead")
        super().verify_claims(claims)

    def validate_jti(self, claims: dict[str, Any], jti: str) -> bool:
        from datetime import UTC, datetime

        if not isinstance(jti, str) or len(jti) > 200:
            return False
        tenant = current_tenant()
        expires = datetime.fromtimestamp(int(claims["exp"]), tz=UTC)
        try:
            with db.session.begin_nested():
                db.session.add(UsedClientAssertion(
                    tenant_id=tenant.id, client_id=str(claims["sub"]), jti=jti, expires_at=expires,
                ))
        except IntegrityError:
            return False
        return True


class IgnoredTokenTypeHint:
    """RFC 7009 §2.1 / RFC 7662 §2.1: `token_type_hint` is only a hint, and every token type is
    searched anyway (find_token), so an unknown hint is ignored rather than refused."""

    def check_params(self, request: OAuth2Request, client: OAuthClient) -> None:
        if "token" not in request.form:
            raise InvalidRequestError()


class Revocation(IgnoredTokenTypeHint, RevocationEndpoint):
    """RFC 7009: refresh tokens (revoking the grant) and access tokens (by jti)."""

    CLIENT_AUTH_METHODS = AUTH_METHODS

    def query_token(self, token_string: str, token_type_hint: str | None) -> Any:
        return find_token(token_string)

    def revoke_token(self, token: Any, request: OAuth2Request) -> None:
        tenant = current_tenant()
        if isinstance(token, _RefreshTokenView):
            grant_service.revoke_grant(token.grant)
        else:
            tokens.revoke_access_token(tenant, token.access)


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


class _AccessTokenView:
    def __init__(self, access: tokens.AccessToken) -> None:
        self.access = access

    def check_client(self, client: OAuthClient) -> bool:
        return self.access.client_id == client.get_client_id()

    def is_expired(self) -> bool:
        return False  # verify_access_token checked it

    def is_revoked(self) -> bool:
        return False

    def introspection(self) -> dict[str, Any]:
        claims = self.access.claims
        keys = ("scope", "client_id", "sub", "exp", "iat", "iss", "aud", "jti", "auth_time")
        return {"active": True, "token_type": "Bearer", **{k: claims[k] for k in keys if k in claims}}


class _RefreshTokenView:
    def __init__(self, grant: Grant, issued_at: datetime, client_id: str) -> None:
        self.grant = grant
        self.issued_at = issued_at
        self.client_id = client_id

    def check_client(self, client: OAuthClient) -> bool:
        return client.model.id == self.grant.client_pk

    def is_expired(self) -> bool:
        return not grant_service.grant_is_live(current_tenant(), self.grant, self.issued_at)

    def is_revoked(self) -> bool:
        return self.grant.revoked_at is not None

    def introspection(self) -> dict[str, Any]:
        tenant = current_tenant()
        user = get_user(tenant, self.grant.user_id) if self.grant.user_id else None
        payload: dict[str, Any] = {
            "active": True, "token_type": "refresh_token", "scope": self.grant.scope,
            "client_id": self.client_id, "iss": self.grant.issuer,
        }
        if user is not None:
            payload["sub"] = user.sub
        return payload


def find_token(token_string: str) -> _AccessTokenView | _RefreshTokenView | None:
    tenant = current_tenant()
    access = tokens.verify_access_token(tenant, token_string, tenant_issuers(tenant))
    if access is not None:
        return _AccessTokenView(access)
    found = grant_service.find_grant_of_refresh_token(tenant, token_string)
    if found is None:
        return None
    grant, issued_at = found
    client = db.session.get(Client, grant.client_pk)
    return _RefreshTokenView(grant, issued_at, client.client_id if client else "")


def tenant_issuers(tenant: Tenant) -> list[str]:
    from flask import current_app

    from idp.tenancy.issuers import host_issuer, path_issuer

    config = current_app.config["IDP"]
    return [path_issuer(config, tenant.account), host_issuer(config, tenant.account)]


def create_server(app: Flask) -> Server:
    server = Server()
    server.init_app(app)
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
    from flask import current_app

    server: Server = current_app.extensions["idp.oauth"]
    return server


__all__ = ["InvalidGrantError", "create_server"]
