"""One place renders errors: a page for people, JSON for programs, never a stack trace."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from idp.tenancy.context import UnknownAccount
from idp.web.pages import render_page

log = logging.getLogger(__name__)

MESSAGES = {
    400: "The request could not be understood.",
    404: "There is nothing at this address.",
    405: "This page does not accept that kind of request.",
    413: "What was sent is too large.",
    429: "Too many attempts. Please wait a moment and try again.",
}


def init_app(app: Flask) -> None:
    app.register_error_handler(UnknownAccount, _unknown_account)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)


def _wants_json() -> bool:
    if request.endpoint is not None:
        return request.endpoint in JSON_ENDPOINTS or request.blueprint == "api"
    # No endpoint matched (405): decide by path.
    return request.path.endswith(JSON_PATH_ENDINGS) or "/register/" in request.path or "/api/" in request.path


JSON_PATH_ENDINGS = ("/token", "/userinfo", "/revoke", "/introspect", "/register", "/jwks")


def _unknown_account(error: UnknownAccount) -> tuple[str, int]:
    return render_page("tenancy/unknown_account.html", status=404, account=error.account, tenant=None)


# Endpoints that machines call: errors there are JSON (RFC 6749 §5.2), not pages.
JSON_ENDPOINTS = frozenset({
    "oauth.token", "oauth.userinfo", "oauth.revoke", "oauth.introspect", "oauth.register_client_endpoint",
    "oauth.manage_client", "oauth.discovery", "oauth.jwks",
})


def _http_error(error: HTTPException) -> ResponseReturnValue:
    if error.code is None or error.code < 400:
        return error
    if _wants_json():
        description = MESSAGES.get(error.code, "The request could not be processed.")
        return jsonify({"error": "invalid_request", "error_description": description}), error.code
    message = error.description if error.code != 404 else MESSAGES[404]
    if error.code in (405, 413) or not message:
        message = MESSAGES.get(error.code, "Something went wrong.")
    return render_page(
        "errors/error.html", status=error.code, code=error.code, title=error.name, message=message
    )


def _unexpected(error: Exception) -> ResponseReturnValue:
    log.exception("unhandled error", exc_info=error)
    if _wants_json():  # a program reads this: JSON it can parse, and still nothing of the internals
        return jsonify({"error": "server_error"}), 500
    return render_page(
        "errors/error.html", status=500, code=500, title="Something went wrong",
        message="Something went wrong on our side. Please try again.",
    )
