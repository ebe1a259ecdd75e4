"""The plainest client_credentials grant, answered from the caches alone
(docs/decisions/client-credentials-fast-path.md).

A service asking for its machine scopes with HTTP Basic (RFC 6749 §4.4, §2.3.1) is the token
request sent most often. On the full path, what surrounds the checks and the signature (Authlib's
request and grant objects, the ORM session, Werkzeug's response) costs more than they do.
Here such a request is answered with the same checks (the client's own methods in
oauth_client.py, the scope rule `machine_scope`) and the same token (`tokens.issue_access_token`,
`bearer_token`), and nothing else.

This path only ever grants. Whenever anything is not plain, `answer` returns None and the full
path answers, refusals included, so every refusal is written once:
- a parameter other than `grant_type` and `scope`, or one given twice;
- credentials other than `Basic` with RFC 3986 unreserved characters (where Authlib's decoding
  and ours cannot differ);
- an `Origin` (CORS is answered there);
- a tenant, client or signing key this process has not cached, or a check that fails.
The differential test (tests/oauth/test_plain_client_credentials.py) holds the two paths to the
same answers.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import TYPE_CHECKING

from idp import metrics
from idp.oauth import tokens
from idp.oauth.client_credentials_grant import machine_scope
from idp.oauth.clients import cached_client_snapshot
from idp.oauth.oauth_client import OAuthClient
from idp.oauth.token_issuing import bearer_token
from idp.tenancy.cache import cached_tenant_snapshot
from idp.tenancy.routing import Route
from idp.web.headers import security_headers

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

GRANT_TYPE = "client_credentials"
PARAMETERS = frozenset(("grant_type", "scope"))
BASIC = re.compile(r"Basic ([A-Za-z0-9+/]{4,2048}={0,2})")
UNRESERVED = re.compile(r"[A-Za-z0-9._~-]{1,512}")  # RFC 3986 §2.3: percent-decoding leaves them as they are
# Authlib's token response headers (RFC 6749 §5.1), then what the token endpoint adds to every answer.
RESPONSE_HEADERS = (("Content-Type", "application/json"), ("Cache-Control", "no-store"), ("Pragma", "no-cache"),
                    ("Vary", "Origin"))


Answer = tuple[bytes, list[tuple[str, str]]]  # a 200's body and headers


def answer(environ: WSGIEnvironment, route: Route, pairs: list[tuple[str, str]]) -> Answer | None:
    """The body and headers of a 200 granting this request, or None: the full path answers it."""
    if environ.get("HTTP_ORIGIN") is not None or route.account is None or route.issuer is None:
        return None
    params = dict(pairs)
    if len(params) != len(pairs) or params.get("grant_type") != GRANT_TYPE or not params.keys() <= PARAMETERS:
        return None
    credentials = _basic_credentials(environ.get("HTTP_AUTHORIZATION"))
    if credentials is None:
        return None
    client_id, secret = credentials
    tenant = cached_tenant_snapshot(route.account)
    model = cached_client_snapshot(tenant, client_id) if tenant is not None else None
    if tenant is None or model is None:
        return None
    client = OAuthClient(model)
    if not (client.check_endpoint_auth_method("client_secret_basic", "token") and client.check_grant_type(GRANT_TYPE)
            and client.check_client_secret(secret)):
        return None
    scope = machine_scope(client, params.get("scope"))
    if scope is None:
        return None
    access_token = tokens.issue_access_token(tenant, issuer=route.issuer, client_id=client_id, sub=client_id,
                                             scope=scope)
    metrics.TOKENS_ISSUED.labels(GRANT_TYPE).inc()
    body = json.dumps(bearer_token(access_token, scope)).encode()
    return body, [*RESPONSE_HEADERS, ("Content-Length", str(len(body))), *security_headers("application/json")]


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    """(client_id, secret) from `Basic base64(id:secret)` when both are plain, else None."""
    match = BASIC.fullmatch(header or "")
    if match is None:
        return None
    try:
        decoded = base64.b64decode(match.group(1), validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, colon, secret = decoded.partition(":")
    if not colon or UNRESERVED.fullmatch(client_id) is None or UNRESERVED.fullmatch(secret) is None:
        return None
    return client_id, secret
