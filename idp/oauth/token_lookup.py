"""Finding what a presented token is, for revocation (RFC 7009) and introspection (RFC 7662):
a JWT access token of this tenant, or an unspent refresh token of a live grant."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc6749.errors import InvalidRequestError

from idp.accounts.service import get_user
from idp.db import db
from idp.oauth import grants as grant_service
from idp.oauth import tokens
from idp.oauth.issuers import tenant_issuers
from idp.oauth.models import Client, Grant
from idp.oauth.oauth_client import OAuthClient
from idp.tenancy.context import current_tenant


class IgnoredTokenTypeHint:
    """RFC 7009 §2.1 / RFC 7662 §2.1: `token_type_hint` is only a hint, and every token type is
    searched anyway (find_token), so an unknown hint is ignored rather than refused."""

    def check_params(self, request: OAuth2Request, client: OAuthClient) -> None:
        if "token" not in request.form:
            raise InvalidRequestError()


class AccessTokenView:
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


class RefreshTokenView:
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


def find_token(token_string: str) -> AccessTokenView | RefreshTokenView | None:
    tenant = current_tenant()
    access = tokens.verify_access_token(tenant, token_string, tenant_issuers(tenant))
    if access is not None:
        return AccessTokenView(access)
    found = grant_service.find_grant_of_refresh_token(tenant, token_string)
    if found is None:
        return None
    grant, issued_at = found
    client = db.session.get(Client, grant.client_pk)
    return RefreshTokenView(grant, issued_at, client.client_id if client else "")
