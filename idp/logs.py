"""Logging: text or one JSON object per line (IDP_LOG_FORMAT), every line of a request carrying its
request id, tenant and route.

A request's id is the `X-Request-Id` it came with when IDP_TRUST_PROXY says a proxy sets it (and
it looks like an id), else a new one; it goes back in the response's `X-Request-Id`. Messages
never carry query strings, tokens or passwords: the access line has the path only, and nothing
of ours logs a request's values.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import secrets
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import g, has_app_context, has_request_context, request

from idp.config import Config

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
ENVIRON_KEY = "idp.request_id"
HEADER = "X-Request-Id"
VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"
FIELDS = ("method", "path", "status", "length", "duration_ms", "agent")  # an access line's own


class RequestContext(logging.Filter):
    """Adds request_id, tenant and route (a template, never the values in it) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = REQUEST_ID.get() or "-"
        tenant = route = None
        if has_app_context():  # the routing's plain values only: a log line never touches the database
            tenant = getattr(g.get("route"), "account", None)
            if has_request_context() and request.url_rule is not None:
                route = request.url_rule.rule
        record.tenant = getattr(record, "tenant", None) or tenant
        record.route = getattr(record, "route", None) or route
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(), "logger": record.name,
            "event": "http_request" if record.name == "idp.access" else record.getMessage(),
            "request_id": getattr(record, "request_id", None), "tenant": getattr(record, "tenant", None),
            "route": getattr(record, "route", None),
        }
        line.update({name: getattr(record, name) for name in FIELDS if hasattr(record, name)})
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def formatter(config: Config) -> logging.Formatter:
    return JsonFormatter() if config.log_format == "json" else logging.Formatter(TEXT_FORMAT)


def configure(config: Config) -> None:
    """The root logger: one handler on standard error, in the configured format, with the context."""
    root = logging.getLogger()
    root.setLevel(config.log_level)
    if not any(getattr(existing, "_idp", False) for existing in root.handlers):
        ours = logging.StreamHandler(sys.stderr)
        ours._idp = True  # type: ignore[attr-defined]
        ours.addFilter(RequestContext())
        root.addHandler(ours)
    for existing in root.handlers:
        if getattr(existing, "_idp", False):
            existing.setFormatter(formatter(config))
    for chatty in ("xmlschema", "alembic.runtime.plugins"):  # pysaml2's schema loader; Alembic's plugin setup
        logging.getLogger(chatty).setLevel(logging.WARNING)


class RequestIds:
    """WSGI: give each request its id (see the module's docstring) and return it."""

    def __init__(self, app: Callable[..., Iterable[bytes]], *, trust_proxy: bool) -> None:
        self.app = app
        self.trust_proxy = trust_proxy

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        offered = environ.get("HTTP_X_REQUEST_ID", "") if self.trust_proxy else ""
        request_id = offered if VALID_ID.match(offered) else secrets.token_hex(8)
        environ[ENVIRON_KEY] = request_id
        token = REQUEST_ID.set(request_id)

        def with_id(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            return start_response(status, [*headers, (HEADER, request_id)], exc_info)

        try:
            return self.app(environ, with_id)
        finally:
            REQUEST_ID.reset(token)
