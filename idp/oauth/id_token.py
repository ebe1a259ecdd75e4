"""ID tokens (OIDC Core §2, §3.1.3.6), and a new one with each refresh (§12.2)."""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oidc.core import OpenIDCode

from idp import clock
from idp.accounts.models import User
from idp.oauth import claims as user_claims
from idp.oauth import tokens
from idp.oauth.models import Grant
from idp.oauth.oauth_client import OAuthClient
from idp.tenancy.context import current_tenant


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
    if grant.idp:
        claims["idp"] = grant.idp  # the connection the person came in through
    if grant.nonce and with_nonce:
        claims["nonce"] = grant.nonce
    if grant.session_id:
        claims["sid"] = grant.session_id
    if grant.acr:
        claims["acr"] = grant.acr
    if token.get("access_token"):
        claims["at_hash"] = tokens.half_hash(token["access_token"], alg)
    claims.update(user_claims.for_scopes(tenant, user, token.get("scope", "").split(), grant.family_id))
    return tokens.sign(tenant, claims, alg=alg)


def add_id_token_on_refresh(grant: Any) -> None:
    """OIDC Core §12.2: a refresh returns a new ID token (without nonce) for openid grants."""

    def hook(grant: Any, response: tuple[int, dict[str, Any], Any]) -> None:
        _, token, _ = response
        request = grant.request
        if "openid" in token.get("scope", "").split() and request.user is not None:
            token["id_token"] = build_id_token(request.grant_row, request.user, request.client, token, with_nonce=False)

    grant.register_hook("after_create_token_response", hook)
