"""The relying-party side of an upstream OpenID Provider (Google, Microsoft Entra ID, any OIDC):
discovery, the authorization URL, the code exchange, and the ID token's checks.

Every check of OIDC Core §3.1.3.7 is made here: the signature by a key of the upstream's JWKS
(cached, fetched again once for an unknown `kid`), `iss`, `aud` (and `azp` when there are
several audiences), `exp`, `iat`, `nonce`. Then the kind's own rules decide the stable subject
and whether the upstream's email can be trusted (docs/decisions/federation-linking.md):

- oidc: subject `sub`; email trusted when `email_verified` is true;
- google: the same, and `hd` must be one of the connection's hosted domains when it has any;
- microsoft (Entra ID v2): the issuer is the discovery issuer with `{tenantid}` replaced by the
  token's `tid` (pinned when the connection names a tenant); subject `tid:oid`, never the email
  or `preferred_username`; email trusted only when the token says `xms_edov: true`, or when the
  connection pins an Entra tenant and the email is in one of its email domains.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from idp import clock
from idp.errors import PortcullisError

TIMEOUT_SECONDS = 5
MAX_DOCUMENT_BYTES = 512 * 1024
METADATA_SECONDS = 3600
JWKS_SECONDS = 3600
JWKS_REFETCH_SECONDS = 60  # an unknown kid fetches the JWKS again at most this often
LEEWAY_SECONDS = 120
ID_TOKEN_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"]
GOOGLE_DISCOVERY = "https://accounts.google.com/.well-known/openid-configuration"
ENTRA_DISCOVERY = "https://login.microsoftonline.com/{tenant}/v2.0/.well-known/openid-configuration"


class UpstreamError(PortcullisError):
    """The upstream identity provider could not be used, or what it sent does not check out."""

    status = 502
    error = "upstream_error"
    title = "Signing in through another provider did not work"
    message = "The sign-in provider's answer could not be used. Try again, or sign in another way."


class UpstreamRefused(UpstreamError):
    """The upstream said no (access_denied, …), or its answer failed a check: the person's problem
    or an attack, not our outage."""

    status = 400


@dataclass(frozen=True)
class Upstream:
    """What the connection says about its upstream, as the checks need it."""

    kind: str
    client_id: str
    discovery_url: str
    entra_tenant: str | None = None
    hosted_domains: tuple[str, ...] = ()
    email_domains: tuple[str, ...] = ()


@dataclass(frozen=True)
class UpstreamIdentity:
    subject: str
    email: str | None
    email_trusted: bool
    name: str | None = None
    upstream_amr: tuple[str, ...] = ()
    claims: dict[str, Any] = field(default_factory=dict, compare=False)


def default_discovery_url(kind: str, entra_tenant: str | None) -> str | None:
    if kind == "google":
        return GOOGLE_DISCOVERY
    if kind == "microsoft":
        return ENTRA_DISCOVERY.format(tenant=entra_tenant or "organizations")
    return None


def pkce_pair(verifier: str) -> str:
    """The S256 challenge of a verifier (RFC 7636 §4.2)."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


# -- documents, cached per process ------------------------------------------------------------


class _Cache:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._metadata: dict[str, tuple[float, dict[str, Any]]] = {}
        self._jwks: dict[str, tuple[float, KeySet]] = {}
        self._refreshed: dict[str, float] = {}  # when a token with an unknown key last fetched the JWKS

    def metadata(self, url: str) -> dict[str, Any]:
        now = time.monotonic()
        with self._lock:
            cached = self._metadata.get(url)
        if cached is not None and now - cached[0] < METADATA_SECONDS:
            return cached[1]
        document = fetch_json(url)
        for name in ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(document.get(name), str):
                raise UpstreamError(f"The provider's discovery document has no {name}.")
        with self._lock:
            self._metadata[url] = (now, document)
        return document

    def keys(self, jwks_uri: str, *, refresh: bool = False) -> KeySet:
        """The JWKS, cached; `refresh` (a token's key was not in it) fetches it again, at most once
        per JWKS_REFETCH_SECONDS, so forged kids cannot make us hammer the upstream."""
        now = time.monotonic()
        with self._lock:
            cached = self._jwks.get(jwks_uri)
            if refresh:
                if now - self._refreshed.get(jwks_uri, -JWKS_REFETCH_SECONDS) < JWKS_REFETCH_SECONDS and cached:
                    return cached[1]
                self._refreshed[jwks_uri] = now
        if cached is not None and not refresh and now - cached[0] < JWKS_SECONDS:
            return cached[1]
        try:
            keys = KeySet.import_key_set(fetch_json(jwks_uri))  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise UpstreamError("The provider's signing keys could not be read.") from exc
        with self._lock:
            self._jwks[jwks_uri] = (now, keys)
        return keys

    def clear(self) -> None:
        with self._lock:
            self._metadata.clear()
            self._jwks.clear()
            self._refreshed.clear()


documents = _Cache()


def fetch_json(url: str, data: dict[str, str] | None = None, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """GET (or POST a form to) an https URL, or an http one on loopback (tests, development)."""
    raw = fetch(url, data, {"Accept": "application/json", **(headers or {})})
    try:
        document = json.loads(raw)
    except ValueError as exc:
        raise UpstreamError("The provider's answer is not JSON.") from exc
    if not isinstance(document, dict):
        raise UpstreamError("The provider's answer is not a JSON object.")
    return document


def fetch(url: str, data: dict[str, str] | None = None, headers: dict[str, str] | None = None) -> bytes:
    """The body at an https URL (http only on loopback), at most MAX_DOCUMENT_BYTES, in TIMEOUT_SECONDS.
    A POST's 400 and 401 bodies are returned (OAuth errors are JSON answers)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "https" and not (parts.scheme == "http" and parts.hostname in ("127.0.0.1", "::1", "localhost")):
        raise UpstreamError("The provider's address must be https.")
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    request = urllib.request.Request(url, data=body, headers=headers or {})  # noqa: S310 - scheme checked above
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
            raw = response.read(MAX_DOCUMENT_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raw = exc.read(MAX_DOCUMENT_BYTES + 1)
        if data is None or exc.code not in (400, 401):
            raise UpstreamError(f"The provider answered {exc.code}.") from exc
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise UpstreamError("The provider could not be reached.") from exc
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise UpstreamError("The provider's answer is too large.")
    return bytes(raw)


# -- the flow ---------------------------------------------------------------------------------


def authorization_url(upstream: Upstream, *, scope: str, redirect_uri: str, state: str, nonce: str,
                      verifier: str, login_hint: str | None = None) -> str:
    metadata = documents.metadata(upstream.discovery_url)
    params = {
        "response_type": "code", "client_id": upstream.client_id, "redirect_uri": redirect_uri, "scope": scope,
        "state": state, "nonce": nonce, "code_challenge": pkce_pair(verifier), "code_challenge_method": "S256",
    }
    if login_hint:
        params["login_hint"] = login_hint
    if upstream.kind == "google" and len(upstream.hosted_domains) == 1:
        params["hd"] = upstream.hosted_domains[0]  # a hint for Google's account chooser; checked on return
    if upstream.kind == "microsoft":
        params["response_mode"] = "query"
    endpoint = metadata["authorization_endpoint"]
    return endpoint + ("&" if "?" in endpoint else "?") + urllib.parse.urlencode(params)


def redeem(upstream: Upstream, client_secret: str, *, code: str, redirect_uri: str, verifier: str,
           nonce: str) -> UpstreamIdentity:
    """Exchange the code (client_secret_basic, else _post), check the ID token, apply the kind's rules."""
    metadata = documents.metadata(upstream.discovery_url)
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri, "code_verifier": verifier}
    methods = metadata.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    headers = {}
    if "client_secret_basic" in methods:
        pair = f"{urllib.parse.quote(upstream.client_id, safe='')}:{urllib.parse.quote(client_secret, safe='')}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    else:
        form.update(client_id=upstream.client_id, client_secret=client_secret)
    tokens = fetch_json(metadata["token_endpoint"], data=form, headers=headers)
    if "error" in tokens:
        raise UpstreamRefused("The provider refused to complete the sign-in.")
    id_token = tokens.get("id_token")
    if not isinstance(id_token, str):
        raise UpstreamRefused("The provider sent no ID token.")
    claims = verify_id_token(upstream, metadata, id_token, nonce)
    return identity_of(upstream, metadata, claims)


def verify_id_token(upstream: Upstream, metadata: dict[str, Any], id_token: str, nonce: str) -> dict[str, Any]:
    """OIDC Core §3.1.3.7, except the issuer, which identity_of checks by kind."""
    if len(id_token) > 16_000 or id_token.count(".") != 2:
        raise UpstreamRefused("The provider's ID token is malformed.")
    jwks_uri = metadata["jwks_uri"]
    try:
        try:
            decoded = jwt.decode(id_token, documents.keys(jwks_uri), algorithms=ID_TOKEN_ALGORITHMS)
        except JoseError:  # perhaps a key rotated in since the JWKS was fetched
            decoded = jwt.decode(id_token, documents.keys(jwks_uri, refresh=True), algorithms=ID_TOKEN_ALGORITHMS)
    except (JoseError, ValueError, TypeError) as exc:
        raise UpstreamRefused("The provider's ID token is not signed by the provider.") from exc
    claims: dict[str, Any] = dict(decoded.claims)
    now = clock.now().timestamp()
    audiences = claims.get("aud")
    audiences = [audiences] if isinstance(audiences, str) else audiences
    if not isinstance(audiences, list) or upstream.client_id not in audiences:
        raise UpstreamRefused("The provider's ID token is for another client.")
    if len(audiences) > 1 and claims.get("azp") != upstream.client_id:
        raise UpstreamRefused("The provider's ID token is for another client.")
    exp, iat = _number(claims.get("exp")), _number(claims.get("iat"))
    if exp is None or exp + LEEWAY_SECONDS < now:
        raise UpstreamRefused("The provider's ID token has expired.")
    if iat is None or iat - LEEWAY_SECONDS > now:
        raise UpstreamRefused("The provider's ID token was issued in the future.")
    if not isinstance(claims.get("nonce"), str) or claims["nonce"] != nonce:
        raise UpstreamRefused("The provider's ID token is not the answer to this sign-in.")
    if not isinstance(claims.get("sub"), str) or not claims["sub"] or len(claims["sub"]) > 255:
        raise UpstreamRefused("The provider's ID token names nobody.")
    return claims


def identity_of(upstream: Upstream, metadata: dict[str, Any], claims: dict[str, Any]) -> UpstreamIdentity:
    email = claims.get("email") if isinstance(claims.get("email"), str) else None
    email = email.strip().lower() if email else None
    name = claims.get("name") if isinstance(claims.get("name"), str) else None
    amr = tuple(str(value) for value in claims.get("amr", []) if isinstance(value, str)) \
        if isinstance(claims.get("amr"), list) else ()
    if upstream.kind == "microsoft":
        tid, oid = claims.get("tid"), claims.get("oid")
        if not isinstance(tid, str) or not isinstance(oid, str) or not tid or not oid:
            raise UpstreamRefused("The Microsoft ID token has no tenant or object id.")
        if upstream.entra_tenant not in (None, "common", "organizations", "consumers") and tid != upstream.entra_tenant:
            raise UpstreamRefused("The Microsoft account belongs to another organization.")
        if claims.get("iss") != str(metadata["issuer"]).replace("{tenantid}", tid):
            raise UpstreamRefused("The Microsoft ID token has another issuer.")
        pinned = upstream.entra_tenant not in (None, "common", "organizations", "consumers")
        trusted = email is not None and (claims.get("xms_edov") is True or (
            pinned and _domain(email) in upstream.email_domains))
        return UpstreamIdentity(f"{tid}:{oid}", email, trusted, name, amr, claims)
    if claims.get("iss") != metadata["issuer"]:
        raise UpstreamRefused("The provider's ID token has another issuer.")
    if upstream.kind == "google" and upstream.hosted_domains and claims.get("hd") not in upstream.hosted_domains:
        raise UpstreamRefused("This Google account is not one of the organization's.")
    trusted = email is not None and claims.get("email_verified") is True
    return UpstreamIdentity(str(claims["sub"]), email, trusted, name, amr, claims)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _domain(email: str) -> str:
    return email.rpartition("@")[2]
