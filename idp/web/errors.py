"""The one place errors are rendered: a page for people, JSON for programs, a redirect back to
the client where the protocol says so, and never a stack trace.

Every error that leaves a view, a before_request hook or the unit of work's commit arrives here
as an exception and becomes a `PortcullisError` (idp/errors.py): ours as they are, Werkzeug's
HTTP errors by their status, a database outage as `DatabaseUnavailable` (503 with Retry-After),
a value the database refuses (`DataError`, logged as a warning) as a 400, and anything else as
`ServerError` (500, logged in full). Then:

- an error whose `redirect_location()` names the client's verified redirect URI goes there;
- a view marked `answers_json` (protocol endpoints, the admin API) gets
  `{"error", "error_description"}` (RFC 6749 §5.2) with the error's status and headers;
- a form that asked (`show_errors_on`) is shown again with the error as its alert;
- anything else gets the error page.
Should rendering itself fail (the database went away mid-request), a plain answer with the same
status goes out: no exception reaches the HTTP server.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import suppress
from functools import partial
from typing import Any, TypeVar

from flask import Blueprint, Flask, Response, current_app, g, jsonify, make_response, redirect, request
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import DataError
from werkzeug.exceptions import HTTPException, InternalServerError, MethodNotAllowed

from idp.errors import DatabaseUnavailable, InvalidInput, PortcullisError, ServerError, ServiceUnavailable
from idp.unit_of_work import as_outage, finish, rollback
from idp.web.pages import render_page

log = logging.getLogger(__name__)

T = TypeVar("T")
_JSON_ATTRIBUTE = "_idp_answers_json"

MESSAGES = {
    400: "The request could not be understood.",
    404: "There is nothing at this address.",
    405: "This page does not accept that kind of request.",
    413: "What was sent is too large.",
}


class UnstorableValue(InvalidInput):
    message = "A value in the request cannot be stored."


class HTTPError(PortcullisError):
    """One of Werkzeug's HTTP errors (no route, wrong method, body too large, bad form…)."""

    def __init__(self, error: HTTPException) -> None:
        self.status = error.code or 400
        self.http_error = error
        super().__init__(MESSAGES.get(self.status) or error.description or "The request could not be processed.")

    @property
    def page_title(self) -> str:
        return self.http_error.name

    def headers(self) -> dict[str, str]:
        return {"Allow": ", ".join(self.http_error.valid_methods or [])} if isinstance(
            self.http_error, MethodNotAllowed) else {}


def answers_json(target: T) -> T:
    """Mark a view (or every view of a blueprint) whose callers are programs: errors there are
    JSON, never pages."""
    setattr(target, _JSON_ATTRIBUTE, True)
    return target


def show_errors_on(page: Callable[..., ResponseReturnValue], *args: Any, **context: Any) -> None:
    """Should this request end in a refusal (a 4xx PortcullisError), answer with
    `page(*args, **context, status=…, alert=…)`: the form again, with what was typed and the reason."""
    g.error_page = partial(page, *args, **context)


def init_app(app: Flask) -> None:
    app.register_error_handler(Exception, handle)


def finish_unit_of_work(response: Response) -> Response:
    """after_request, before any other: commit or roll back this request's unit of work by its
    status. A commit the database cannot take turns the answer into that error (a 503 while the
    database is down), so nobody is told of a success that was lost."""
    try:
        finish(response.status_code)
    except Exception as error:
        return make_response(handle(error))
    return response


def handle(error: Exception) -> ResponseReturnValue:
    if isinstance(error, HTTPException) and (error.code is None or error.code < 400):
        return error  # Werkzeug's routing redirects (a missing trailing slash)
    known = classify(error)
    _read_rest_of_body()
    try:
        return render(known)
    except Exception:  # the error page itself failed: the same status, in plain words
        log.exception("rendering an error failed")
        rollback()
        return _plain(known)


def _read_rest_of_body() -> None:
    """Read what is left of the request body before answering. Refused early (a database outage,
    a bad token), a request's body may still be arriving; a server that answers before reading it
    closes the keep-alive connection, and a client that sends its next request on it loses that
    request. The body is bounded by MAX_CONTENT_LENGTH; a larger one is not waited for."""
    with suppress(Exception):  # too large, or the client went away: nothing to wait for
        request.get_data(cache=False)


def classify(error: BaseException) -> PortcullisError:
    """The PortcullisError this exception stands for; unexpected ones are logged and rolled back."""
    if isinstance(error, InternalServerError) and error.original_exception is not None:
        error = error.original_exception  # Flask's wrapper around what no handler took
    outage = error if isinstance(error, ServiceUnavailable) else as_outage(error)
    if outage is not None:
        _log_outage(error)
        rollback()
        return outage
    if isinstance(error, PortcullisError):
        if error.status >= 500:
            log.error("server error", exc_info=error)
            rollback()
        return error
    if isinstance(error, HTTPException):
        return HTTPError(error)
    if isinstance(error, DataError):  # a value the database cannot take: bad input that got past the edge
        log.warning("the database refused a value of the request", exc_info=error)
        rollback()
        return UnstorableValue()
    log.error("unhandled error", exc_info=error)
    rollback()
    return ServerError()


_last_outage_logged = [0.0]


def _log_outage(error: BaseException) -> None:
    """One line a second at most: during an outage every request fails the same way."""
    now = time.monotonic()
    if now - _last_outage_logged[0] >= 1.0:
        _last_outage_logged[0] = now
        cause = error.__cause__ or error
        log.warning("database unavailable, answering 503: %s: %s", type(cause).__name__,
                    str(cause).splitlines()[0][:200] if str(cause) else "")


def render(error: PortcullisError) -> Response:
    location = error.redirect_location()
    response: Response
    if location is not None:
        response = make_response(redirect(location, code=302))
    elif wants_json():
        response = as_json(error)
    else:
        response = make_response(_page(error))  # the page carries its status
    response.headers.update(error.headers())
    return response


def as_json(error: PortcullisError) -> Response:
    body = {"error": error.error} if error.status >= 500 else {
        "error": error.error, "error_description": error.description}
    response = jsonify(body)
    response.status_code = error.status
    response.headers.update(error.headers())
    return response


def _page(error: PortcullisError) -> ResponseReturnValue:
    form_page = g.get("error_page")
    if form_page is not None and error.status < 500:
        return form_page(status=error.status, alert=error.description)
    title = error.page_title if isinstance(error, HTTPError) else error.title
    # After an outage nothing may touch the database: the tenant's row is not read for its name.
    tenant = None if isinstance(error, DatabaseUnavailable) else g.get("tenant")
    return render_page(error.page or "errors/error.html", status=error.status, code=error.status, title=title,
                       message=error.description, hint=error.hint, tenant=tenant, **error.page_context())


def wants_json() -> bool:
    endpoint = request.endpoint or _endpoint_allowing_another_method()
    view = current_app.view_functions.get(endpoint) if endpoint else None
    if view is not None and getattr(view, _JSON_ATTRIBUTE, False):
        return True
    blueprint = current_app.blueprints.get(endpoint.rpartition(".")[0]) if endpoint else None
    return isinstance(blueprint, Blueprint) and getattr(blueprint, _JSON_ATTRIBUTE, False)


def _endpoint_allowing_another_method() -> str | None:
    """For a 405 no endpoint was matched: the one the path names, under a method it allows."""
    error = request.routing_exception
    if not isinstance(error, MethodNotAllowed) or not error.valid_methods or request.url_rule is not None:
        return None
    adapter = current_app.create_url_adapter(request)
    if adapter is None:
        return None
    try:
        endpoint, _ = adapter.match(method=next(iter(error.valid_methods)))
    except HTTPException:
        return None
    return str(endpoint)


def _plain(error: PortcullisError) -> Response:
    text = f"{error.status} {error.description}\n"
    response = Response(text, status=error.status, mimetype="text/plain")
    response.headers.update(error.headers())
    return response
