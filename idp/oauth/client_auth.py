"""How clients authenticate at the token, revocation and introspection endpoints (RFC 6749 §2.3,
OIDC Core §9), and the private_key_jwt method (RFC 7523 §3) with a `jti` replay check."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from authlib.oauth2.rfc6749.authenticate_client import authenticate_client_secret_basic
from authlib.oauth2.rfc6749.errors import InvalidClientError
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from idp import clock
from idp.db import add_once
from idp.oauth.issuers import current_issuer
from idp.oauth.models import UsedClientAssertion
from idp.oauth.oauth_client import OAuthClient
from idp.tenancy.context import current_tenant

AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]
CONFIDENTIAL_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]
MAX_ASSERTION_LIFETIME = 300  # seconds a client assertion's exp may lie ahead (RFC 7523 §3)


def client_secret_basic(query_client: Any, request: Any) -> OAuthClient | None:
    """Authlib's client_secret_basic, refusing credentials that are not UTF-8 (RFC 7617 §2.1) with
    401 invalid_client, and passing over a header of one word (`Basic `), instead of letting
    Authlib's decoding and unpacking errors escape."""
    if len((request.headers.get("Authorization") or "").split(None, 1)) != 2:
        return None
    try:
        client: OAuthClient | None = authenticate_client_secret_basic(query_client, request)
    except UnicodeDecodeError:
        raise InvalidClientError(status_code=401, description="The client credentials are not UTF-8.") from None
    return client


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
        if not isinstance(jti, str) or len(jti) > 200:
            return False
        tenant = current_tenant()
        expires = datetime.fromtimestamp(int(claims["exp"]), tz=UTC)
        return add_once(UsedClientAssertion(tenant_id=tenant.id, client_id=str(claims["sub"]), jti=jti,
                                            expires_at=expires))
