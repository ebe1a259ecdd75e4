"""Request ids and JSON log lines (idp/logs.py)."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from typing import Any

import pytest
from flask import Flask

from idp.app import create_app
from idp.config import Config
from idp.logs import JsonFormatter, RequestContext


def test_every_response_carries_a_request_id(client: Any) -> None:
    first, second = client.get("/healthz"), client.get("/healthz")
    assert len(first.headers["X-Request-Id"]) == 16 and first.headers["X-Request-Id"] != second.headers["X-Request-Id"]


@pytest.mark.parametrize(("trust_proxy", "offered", "kept"), [
    (True, "lb-1234.abc", True), (False, "lb-1234.abc", False), (True, "bad id with spaces", False),
    (True, "x" * 200, False), (True, "", False),
])
def test_a_proxys_request_id_is_kept_only_when_trusted_and_well_formed(config: Config, trust_proxy: bool,
                                                                       offered: str, kept: bool) -> None:
    app = create_app(replace(config, trust_proxy=trust_proxy))
    answer = app.test_client().get("/healthz", headers={"X-Request-Id": offered} if offered else {})
    assert (answer.headers["X-Request-Id"] == offered) is kept


def test_a_json_line_names_the_request_the_tenant_and_the_route(app: Flask, client: Any,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    from tests.helpers import make_tenant

    make_tenant()
    lines: list[dict[str, Any]] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(json.loads(JsonFormatter().format(record)))

    handler = Collect()
    handler.addFilter(RequestContext())
    logger = logging.getLogger("idp.test_logs")
    logger.addHandler(handler)
    try:
        @app.get("/log-something")
        def log_something() -> str:
            logger.warning("something %s", "happened")
            return "ok"

        answer = client.get("/a/acme/log-something")
    finally:
        logger.removeHandler(handler)
    [line] = lines
    assert line["event"] == "something happened" and line["level"] == "warning"
    assert line["request_id"] == answer.headers["X-Request-Id"]
    assert line["route"] == "/log-something" and line["tenant"] == "acme"
    assert line["time"].endswith("Z")
