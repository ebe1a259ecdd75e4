"""The token endpoint's WSGI front: `POST {issuer}/token` goes to the authorization server without
Flask's request machinery (docs/decisions/token-endpoint-front.md).

The token endpoint is the busiest address there is, and none of Flask's per-request work is
needed there: no route to match (the tenant router already resolved it), no browser session,
no CSRF, no templates. This front builds Authlib's request from the WSGI environ and calls the
same `Server.create_token_response` as the view in views.py, so every grant, client
authentication method, check and error is the one implementation. It takes only plain requests
(POST, a form body of known length, no query string); anything else, and a body that does not
decode, goes on to Flask, whose view answers it the same way.

Before any of that, a plain client_credentials grant whose tenant, client and key are cached is
answered by plain_client_credentials.py, which only ever grants: any other request, and any
refusal, goes the full way (docs/decisions/client-credentials-fast-path.md).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from flask import Flask, Response, g
from werkzeug.datastructures import EnvironHeaders

from idp.oauth import cors, plain_client_credentials
from idp.oauth.requests import FormPayload, TenantRequest
from idp.oauth.server import authorization_server
from idp.tenancy.cache import cached_tenant, cached_tenant_snapshot
from idp.tenancy.middleware import ROUTE_KEY
from idp.tenancy.routing import Route
from idp.unit_of_work import finish, rollback
from idp.web.errors import as_json, classify
from idp.web.headers import add_security_headers
from idp.web.inputs import NUL

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

log = logging.getLogger(__name__)

FORM = "application/x-www-form-urlencoded"
MAX_FIELDS = 50  # a token request has a handful; a body with more goes on to Flask and its form limits


def settle(response: Response) -> Response:
    """End the token request's unit of work by its answer (idp.unit_of_work.finish: a success
    commits, a refusal rolls back unless a replayed code or refresh token revoked its grant); a
    commit the database cannot take becomes that error, as JSON."""
    try:
        finish(response.status_code)
    except Exception as error:
        return as_json(classify(error))
    return response


class TokenEndpoint:
    def __init__(self, app: Flask, fallback: WSGIApplication, max_body: int) -> None:
        self.app = app
        self.fallback = fallback
        self.max_body = max_body

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        route: Route | None = environ.get(ROUTE_KEY)
        length = self._plain_token_request(environ)
        if length is None or route is None or route.account is None or route.issuer is None:
            return self.fallback(environ, start_response)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)  # for Flask, should it get the request after all
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False,
                              max_num_fields=MAX_FIELDS, errors="strict")
        except (UnicodeDecodeError, ValueError):
            return self.fallback(environ, start_response)
        if any(NUL in key or NUL in value for key, value in pairs):
            return self.fallback(environ, start_response)  # refused there, as on every route
        with self.app.app_context():
            plain = self._plain_grant(environ, route, pairs)
            if plain is not None:
                body, headers = plain
                start_response("200 OK", headers)
                return [body]
            try:  # only read on this path: a read-only snapshot while it is cached
                tenant = cached_tenant_snapshot(route.account) or cached_tenant(route.account)
            except Exception as error:
                return add_security_headers(as_json(classify(error)))(environ, start_response)
            if tenant is not None:
                g.route = route
                g.tenant = tenant
                environ["idp.route_template"], environ["idp.tenant"] = "/token", route.account  # for the access line
                response = add_security_headers(self._token_response(environ, route.issuer + "/token", pairs))
                return response(environ, start_response)
        return self.fallback(environ, start_response)  # the unknown-account page

    def _plain_token_request(self, environ: WSGIEnvironment) -> int | None:
        """The body's length if this front takes the request, else None."""
        if (environ.get("REQUEST_METHOD") != "POST" or environ.get("PATH_INFO") != "/token"
                or environ.get("QUERY_STRING")):
            return None
        if environ.get("CONTENT_TYPE", "").split(";", 1)[0].strip().lower() != FORM:
            return None
        if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            return None
        length = environ.get("CONTENT_LENGTH") or "0"
        if not length.isdigit() or int(length) > self.max_body:
            return None  # Flask answers 400 or 413
        return int(length)

    @staticmethod
    def _plain_grant(environ: WSGIEnvironment, route: Route, pairs: list[tuple[str, str]]
                     ) -> plain_client_credentials.Answer | None:
        """A plain client_credentials grant, answered from the caches (plain_client_credentials.py);
        None for any other request, and for one that fails there in any way: the full path then
        meets the same condition and answers it."""
        try:
            answer = plain_client_credentials.answer(environ, route, pairs)
            if answer is None:
                return None
            finish(200)  # nothing to commit unless a signing key was read
        except Exception as error:
            rollback()
            log.warning("the plain client_credentials path handed over after %s", type(error).__name__)
            return None
        environ["idp.route_template"], environ["idp.tenant"] = "/token", route.account  # for the access line
        return answer

    @staticmethod
    def _token_response(environ: WSGIEnvironment, uri: str, pairs: list[tuple[str, str]]) -> Response:
        payload = FormPayload(pairs)
        request = TenantRequest("POST", uri, EnvironHeaders(environ), payload, payload.data, {})
        try:
            response = settle(authorization_server().create_token_response(request))
        except Exception as error:  # as the Flask view's would be: JSON, 503 while the database is down
            return as_json(classify(error))
        client = request.client.model if request.client is not None else None
        cors.answer_headers(response.headers, environ.get("HTTP_ORIGIN"), "oauth.token", client)
        return response
