"""CORS for browser apps (single-page apps, public clients): which origin may read which answer.

- Discovery and the JWKS are public documents: any origin (`*`), never with credentials.
- The token, revocation and UserInfo endpoints answer a client: an origin may read the answer
  only if it is the origin of one of that client's registered redirect URIs (node-oidc-provider's
  default rule). The client is the one the request authenticated as, or the access token's.
  A preflight comes before any client is known, so it is granted to any origin, for the methods
  and headers these endpoints take; the actual answer is what the rule above governs.
- Nothing else (the authorization endpoint, pages, forms, the admin API) ever carries CORS
  headers, and no answer ever allows credentials (cookies): these endpoints do not read them.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from werkzeug.datastructures import Headers

from idp.oauth.models import Client

PUBLIC_DOCUMENTS = frozenset({"oauth.discovery", "oauth.jwks"})
CLIENT_ENDPOINTS = frozenset({"oauth.token", "oauth.revoke", "oauth.userinfo"})
ALLOWED_HEADERS = "Authorization, Content-Type, DPoP"
EXPOSED_HEADERS = "WWW-Authenticate, Retry-After"
PREFLIGHT_MAX_AGE = "600"


def origin_of(uri: str) -> str | None:
    """`scheme://host[:port]` as a browser sends it in Origin, or None for a URI without one
    (a native app's private-use scheme has no web origin)."""
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    default = {"http": 80, "https": 443}[parts.scheme]
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}" + (f":{port}" if port not in (None, default) else "")


def client_allows(client: Client | None, origin: str) -> bool:
    return client is not None and any(origin_of(uri) == origin for uri in client.redirect_uris)


def answer_headers(headers: Headers, origin: str | None, endpoint: str | None, client: Client | None) -> None:
    """Add to an actual (non-preflight) answer the CORS headers the rules above allow."""
    if endpoint in PUBLIC_DOCUMENTS:
        headers["Access-Control-Allow-Origin"] = "*"
        return
    if endpoint not in CLIENT_ENDPOINTS:
        return
    headers.add("Vary", "Origin")
    if origin and client_allows(client, origin):
        headers["Access-Control-Allow-Origin"] = origin
        headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS


def preflight_headers(headers: Headers, origin: str | None, endpoint: str | None, methods: str) -> None:
    """Add to the answer of an OPTIONS preflight (Fetch §3.2) the headers that grant it."""
    if not origin or (endpoint not in PUBLIC_DOCUMENTS and endpoint not in CLIENT_ENDPOINTS):
        return
    headers["Access-Control-Allow-Origin"] = "*" if endpoint in PUBLIC_DOCUMENTS else origin
    headers["Access-Control-Allow-Methods"] = methods
    headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
    headers["Access-Control-Max-Age"] = PREFLIGHT_MAX_AGE
    if endpoint in CLIENT_ENDPOINTS:
        headers.add("Vary", "Origin")
