"""`idp serve`'s own parts (idp/server.py): the access line and what a worker keeps of the environment.
The live server itself (keep-alive, the log of a real request, shutdown) is in tests/e2e/test_oidc_rp.py."""

from __future__ import annotations

import base64
import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable, Iterable
from typing import Any

import pytest
from werkzeug.test import Client

from idp.config import Config
from idp.server import AccessLog


def _hello(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("201 Created", [("Content-Type", "text/plain"), ("Content-Length", "5")])
    return [b"hello"]


def _access_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == "idp.access"]


def test_the_access_line_has_method_path_status_length_and_agent_but_no_query(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="idp.access")
    response = Client(AccessLog(_hello)).get("/a/acme/authorize?login_hint=ann@example.com&state=s3cr3t",
                                             headers={"User-Agent": "Portal/1.0"})
    assert response.status_code == 201
    [line] = _access_lines(caplog)
    assert '"GET /a/acme/authorize HTTP/1.1" 201 5 ' in line and line.endswith('ms "Portal/1.0"'), line
    assert "login_hint" not in line and "ann@example.com" not in line and "s3cr3t" not in line


def test_control_characters_and_quotes_cannot_forge_a_log_line(caplog: pytest.LogCaptureFixture) -> None:
    """WSGI paths arrive percent-decoded: a `%0a` in the URL is a newline in PATH_INFO."""
    caplog.set_level(logging.INFO, logger="idp.access")
    forged = '/x\n127.0.0.1 - - [01/Jan/2026:00:00:00 +0000] "GET /admin HTTP/1.1" 200'
    Client(AccessLog(_hello)).get("/", environ_overrides={"PATH_INFO": forged,
                                                          "HTTP_USER_AGENT": 'evil"\r\nagent\x1b[31m'})
    [line] = _access_lines(caplog)
    assert "\n" not in line and "\r" not in line and "\x1b" not in line
    assert line.count('"') == 4, "only the quotes of the request and agent fields"
    assert "/x%0A127.0.0.1" in line


def test_a_request_that_raises_is_logged_as_500(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="idp.access")

    def broken(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        Client(AccessLog(broken)).post("/a/acme/token")
    [line] = _access_lines(caplog)
    assert '"POST /a/acme/token HTTP/1.1" 500 - ' in line


WORKER = """
import json, os
from idp import server
app = server.worker_app()
print(json.dumps({"left": sorted(k for k in os.environ if k.startswith("IDP_")), "app": type(app).__name__}))
"""


def test_a_worker_forgets_the_settings_environment_once_read(config: Config, database: str) -> None:
    """The server copies the process environment into every request's WSGI environ; the master key
    and the database URL must not travel with each request."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("IDP_")}
    env.update(
        IDP_DATABASE_URL=config.database_url, IDP_MASTER_KEY=base64.urlsafe_b64encode(config.master_key).decode(),
        IDP_PUBLIC_URL="http://localhost", IDP_BASE_DOMAIN="localhost", IDP_MAIL_OUTBOX=str(config.mail_outbox),
        IDP_LOG_LEVEL="WARNING",
    )
    done = subprocess.run([sys.executable, "-c", WORKER], env=env, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"left": [], "app": "AccessLog"}


def test_probes_are_logged_at_debug_only(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="idp.access")
    client = Client(AccessLog(_hello))
    client.get("/healthz")
    client.get("/readyz")
    client.get("/a/acme/login")
    assert [line.split('"')[1] for line in _access_lines(caplog)] == ["GET /a/acme/login HTTP/1.1"]
    caplog.clear()
    caplog.set_level(logging.DEBUG, logger="idp.access")
    client.get("/readyz")
    assert len(_access_lines(caplog)) == 1
