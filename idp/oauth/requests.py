"""OAuth requests built from Flask's request, a WSGI form body or a stored authorization request."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc6749.requests import OAuth2Payload
from flask import request as flask_request

from idp.oauth.issuers import current_issuer


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
