"""Client metadata rules (RFC 7591 §2, OIDC Registration §2, RFC 8252): pure functions.

Raises ClientMetadataError carrying the RFC 7591 §3.2.2 error code.
"""

from __future__ import annotations

from ipaddress import ip_address
from typing import Any
from urllib.parse import urlsplit

from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from idp.errors import InvalidInput

GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")
AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt", "none")
SCOPES = ("openid", "profile", "email", "offline_access", "family")  # family: customer pool (idp/families)
# The admin API's scopes (README §Admin API): only clients the operator creates may hold them, and
# only the client_credentials grant issues them (docs/decisions/admin-scopes-operator-only.md).
ADMIN_SCOPE_PREFIXES = ("users:", "business:", "connections:", "audit:", "families:")
ID_TOKEN_ALGS = ("RS256", "ES256")
MAX_URIS = 20
MAX_URI_LENGTH = 2000
MAX_KEYS = 10
JWK_TYPES = ("RSA", "EC")  # what RS256 / ES256 client assertions are verified with
PRIVATE_JWK_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "k")


class ClientMetadataError(InvalidInput):
    """Client metadata that cannot be registered (RFC 7591 §3.2.2: `invalid_redirect_uri`,
    `invalid_client_metadata`)."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error


def is_loopback_host(host: str | None) -> bool:
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def validate_metadata(
    raw: dict[str, Any], *, allow_http_loopback_web: bool = False, operator: bool = False,
) -> dict[str, Any]:
    """The checked, normalised metadata; unknown members are dropped (RFC 7591 §2).

    Only `operator` clients (CLI, tenant TOML) may hold admin scopes or use client_credentials;
    for self-registered ones admin scopes are dropped (RFC 7591 §2 lets the server replace
    requested values) and client_credentials is refused."""
    application_type = _choice(raw, "application_type", ("web", "native"), "web")
    auth_method = _choice(raw, "token_endpoint_auth_method", AUTH_METHODS, "client_secret_basic")
    grant_types = _list_of_choices(raw, "grant_types", GRANT_TYPES, ["authorization_code"])
    response_types = _list_of_choices(raw, "response_types", ("code",), ["code"])
    if "authorization_code" in grant_types and response_types != ["code"]:
        raise ClientMetadataError("invalid_client_metadata", "response_types must be ['code']")
    if auth_method == "none" and "client_credentials" in grant_types:
        raise ClientMetadataError("invalid_client_metadata", "public clients cannot use client_credentials")
    if not operator and "client_credentials" in grant_types:
        raise ClientMetadataError("invalid_client_metadata",
                                  "client_credentials is only for clients created by the operator")
    needs_redirect = "authorization_code" in grant_types
    redirect_uris = _uris(raw, "redirect_uris", required=needs_redirect)
    for uri in redirect_uris:
        check_redirect_uri(uri, application_type, allow_http_loopback_web)
    post_logout = _uris(raw, "post_logout_redirect_uris", required=False)
    for uri in post_logout:
        check_redirect_uri(uri, application_type, allow_http_loopback_web)
    metadata: dict[str, Any] = {
        "application_type": application_type,
        "token_endpoint_auth_method": auth_method,
        "grant_types": grant_types,
        "response_types": response_types,
        "redirect_uris": redirect_uris,
        "post_logout_redirect_uris": post_logout,
        "scope": _scope(raw, operator),
        "client_name": _text(raw, "client_name", 200) or "Unnamed client",
        "id_token_signed_response_alg": _choice(raw, "id_token_signed_response_alg", ID_TOKEN_ALGS, "RS256"),
    }
    for key in ("backchannel_logout_uri", "initiate_login_uri", "client_uri"):
        if raw.get(key) is not None:
            metadata[key] = _https_uri(raw, key, allow_http_loopback_web)
    if raw.get("backchannel_logout_uri") is not None:
        metadata["backchannel_logout_session_required"] = bool(
            raw.get("backchannel_logout_session_required", True)
        )
    if raw.get("jwks") is not None:
        metadata["jwks"] = _jwks(raw["jwks"])
    if auth_method == "private_key_jwt" and "jwks" not in metadata:
        # jwks_uri is not fetched: keys are registered by value, so no outbound request is ever made.
        raise ClientMetadataError("invalid_client_metadata", "private_key_jwt needs jwks (jwks_uri is not supported)")
    return metadata


def check_redirect_uri(uri: str, application_type: str, allow_http_loopback_web: bool = False) -> None:
    parts = urlsplit(uri)
    if parts.fragment or "#" in uri:
        raise ClientMetadataError("invalid_redirect_uri", f"{uri}: a redirect URI has no fragment")
    if not parts.scheme:
        raise ClientMetadataError("invalid_redirect_uri", f"{uri}: not an absolute URI")
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and is_loopback_host(parts.hostname):
        if application_type == "native" or allow_http_loopback_web:
            return
        raise ClientMetadataError("invalid_redirect_uri", f"{uri}: web clients use https")
    if application_type == "native" and parts.scheme not in ("http", "https") and "." in parts.scheme:
        return  # RFC 8252 §7.1 private-use scheme in reverse-domain form
    raise ClientMetadataError("invalid_redirect_uri", f"{uri}: must be https (or loopback/private-use for native apps)")


def _choice(raw: dict[str, Any], key: str, allowed: tuple[str, ...], default: str) -> str:
    value = raw.get(key, default)
    if value not in allowed:
        raise ClientMetadataError("invalid_client_metadata", f"{key} must be one of {', '.join(allowed)}")
    return str(value)


def _list_of_choices(raw: dict[str, Any], key: str, allowed: tuple[str, ...], default: list[str]) -> list[str]:
    value = raw.get(key, default)
    if not isinstance(value, list) or not value or any(v not in allowed for v in value):
        raise ClientMetadataError("invalid_client_metadata", f"{key} must be a list drawn from {', '.join(allowed)}")
    return list(dict.fromkeys(value))


def _uris(raw: dict[str, Any], key: str, *, required: bool) -> list[str]:
    value = raw.get(key, [])
    if not isinstance(value, list) or any(not isinstance(v, str) or len(v) > MAX_URI_LENGTH for v in value):
        raise ClientMetadataError("invalid_client_metadata", f"{key} must be a list of URIs")
    if len(value) > MAX_URIS:
        raise ClientMetadataError("invalid_client_metadata", f"at most {MAX_URIS} {key}")
    if required and not value:
        error = "invalid_redirect_uri" if key == "redirect_uris" else "invalid_client_metadata"
        raise ClientMetadataError(error, f"{key} is required")
    return list(dict.fromkeys(value))


def _scope(raw: dict[str, Any], operator: bool) -> str:
    value = raw.get("scope", "openid profile email")
    if not isinstance(value, str):
        raise ClientMetadataError("invalid_client_metadata", "scope must be a string")
    scopes = [s for s in value.split() if s in SCOPES or (operator and is_admin_scope(s))]
    return " ".join(dict.fromkeys(scopes)) or "openid"


def is_admin_scope(scope: str) -> bool:
    return scope.startswith(ADMIN_SCOPE_PREFIXES)


def _jwks(jwks: Any) -> dict[str, Any]:
    """A JWK Set (RFC 7517 §5) of public RSA or EC keys that joserfc can load, so that a
    private_key_jwt assertion (RFC 7523 §3) can always be verified against it."""
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        raise ClientMetadataError("invalid_client_metadata", "jwks must be a JWK Set")
    keys = jwks["keys"]
    if not 0 < len(keys) <= MAX_KEYS or any(not isinstance(key, dict) for key in keys):
        raise ClientMetadataError("invalid_client_metadata", f"jwks must hold 1 to {MAX_KEYS} keys")
    for key in keys:
        if key.get("kty") not in JWK_TYPES:
            raise ClientMetadataError("invalid_client_metadata", "jwks keys must be RSA or EC public keys")
        if any(member in key for member in PRIVATE_JWK_MEMBERS):
            raise ClientMetadataError("invalid_client_metadata", "jwks must hold public keys only")
    try:
        KeySet.import_key_set({"keys": keys})
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise ClientMetadataError("invalid_client_metadata", "jwks holds a key that cannot be loaded") from exc
    return {"keys": keys}


def _text(raw: dict[str, Any], key: str, max_length: int) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > max_length:
        raise ClientMetadataError("invalid_client_metadata", f"{key} must be text of at most {max_length} characters")
    return value.strip()


def _https_uri(raw: dict[str, Any], key: str, allow_http_loopback: bool) -> str:
    value = raw[key]
    if not isinstance(value, str) or len(value) > MAX_URI_LENGTH:
        raise ClientMetadataError("invalid_client_metadata", f"{key} must be a URI")
    parts = urlsplit(value)
    if parts.fragment:
        raise ClientMetadataError("invalid_client_metadata", f"{key} must not have a fragment")
    if parts.scheme == "https" and parts.hostname:
        return value
    if parts.scheme == "http" and allow_http_loopback and is_loopback_host(parts.hostname):
        return value
    raise ClientMetadataError("invalid_client_metadata", f"{key} must be an https URI")
