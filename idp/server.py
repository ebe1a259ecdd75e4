"""`idp serve`: Granian, a Rust HTTP/1.1 server, running the WSGI app in worker processes.

Each worker process answers one request at a time in one Python thread (the work is CPU-bound
Python: more threads only contend for the GIL); Granian's Rust side parses HTTP, keeps
connections alive and writes responses outside the GIL. Scale with `--workers`, one per core.
Measured against gunicorn's gthread workers on the token endpoint, it takes a quarter to a third
less CPU per grant (docs/decisions/granian-server.md, bench/RESULTS.md).

In each worker, after it forks, `worker_app` builds the Flask app, starts the periodic jobs
(mail, back-channel logout) and wraps the app in the access log.
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing.util
import os
import re
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote

from idp import metrics
from idp.app import create_app
from idp.config import Config, load_config
from idp.logs import ENVIRON_KEY

# Idle kept-alive connections, and clients that are slow to send their headers, are cut after this.
HEADER_READ_TIMEOUT_MS = 5000
# A worker still busy this long after SIGTERM is killed.
SHUTDOWN_GRACE_SECONDS = 10
# Request line and headers together; the body limit is Flask's MAX_CONTENT_LENGTH.
MAX_HEADER_BUFFER = 16 * 1024

# The settings read by the serving process, handed to workers across fork; None before `run`.
_config: Config | None = None

access_log = logging.getLogger("idp.access")
PROBES = frozenset({"/healthz", "/readyz"})  # the load balancer's checks: logged at DEBUG only
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})  # anything else: "other"


class AccessLog:
    """One lean line per request, never the query string:
    `127.0.0.1 - - [01/Dec/2026:09:24:13 +0000] "POST /a/acme/token HTTP/1.1" 200 612 2.9ms "curl/8.5"`.

    Query strings here carry personal data and credentials (`login_hint`, `id_token_hint`, `state`,
    a code on a callback), so the line has the path only. The path is the one received (the tenant
    router rewrites PATH_INFO), percent-encoded again so no control character or quote reaches
    the log.
    """

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        started = time.perf_counter()
        path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
        seen: list[Any] = []

        def recording_start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            seen[:] = (status, headers)
            return start_response(status, headers, exc_info)

        try:
            body = self.app(environ, recording_start_response)
        except BaseException:
            self._line(environ, path, "500", "-", started)
            raise
        status, headers = seen if seen else ("500", [])
        length = next((value for name, value in headers if name.lower() == "content-length"), "-")
        self._line(environ, path, status.split(None, 1)[0], length, started)
        return body

    @staticmethod
    def _line(environ: dict[str, Any], path: str, status: str, length: str, started: float) -> None:
        duration = (time.perf_counter() - started) * 1000
        route = environ.get("idp.route_template") or "unmatched"
        method = environ.get("REQUEST_METHOD", "-")
        metrics.HTTP_REQUESTS.labels(route, method if method in METHODS else "other", status).inc()
        metrics.HTTP_DURATION.labels(route).observe(duration / 1000)
        level = logging.DEBUG if path in PROBES else logging.INFO  # a probe every second would drown the log
        if not access_log.isEnabledFor(level):
            return
        agent = environ.get("HTTP_USER_AGENT", "-").replace('"', "'").replace("\\", "/")
        printable_path = _printable(path)
        access_log.log(
            level, '%s - - %s "%s %s %s" %s %s %.1fms "%s"',
            environ.get("REMOTE_ADDR", "-"), _timestamp(),
            method, printable_path, environ.get("SERVER_PROTOCOL", "-"),
            status, length, duration, _printable(agent),
            extra={"request_id": environ.get(ENVIRON_KEY, "-"), "tenant": environ.get("idp.tenant"),
                   "route": environ.get("idp.route_template"), "method": method, "path": printable_path,
                   "status": int(status) if status.isdigit() else status, "length": length,
                   "duration_ms": round(duration, 1), "agent": _printable(agent)},
        )


_SAFE = "/:@!$&'()*+,;=-._~%?"
_ALREADY_PRINTABLE = re.compile(r"[A-Za-z0-9/:@!$&'()*+,;=\-._~%?]*")


def _printable(text: str) -> str:
    """`text` with every control character, space and quote percent-encoded (WSGI strings are
    latin-1 decoded bytes, so this gives back the bytes as received, escaped). Most paths have
    nothing to encode: those are checked, not rebuilt."""
    if _ALREADY_PRINTABLE.fullmatch(text):
        return text
    return quote(text, safe=_SAFE, encoding="latin-1", errors="backslashreplace")


_STAMP: list[Any] = [0, ""]


def _timestamp() -> str:
    """The access line's time, formatted once per second (one process, one request thread)."""
    now = int(time.time())
    if _STAMP[0] != now:
        _STAMP[:] = [now, time.strftime("[%d/%b/%Y:%H:%M:%S %z]", time.localtime(now))]
    return str(_STAMP[1])


def worker_app() -> Any:
    """Granian's factory, called in each worker process after it forked."""
    config = _config or load_config()
    _forget_settings_environment()
    app = create_app(config)
    _start_background(app)
    atexit.register(metrics.worker_exited, os.getpid())
    return AccessLog(app)


def _forget_settings_environment() -> None:
    """Granian copies the process environment into every request's WSGI environ; the master key
    and database URL have no business there. Settings were read into `Config` already."""
    for name in [name for name in os.environ if name.startswith("IDP_")]:
        del os.environ[name]


def _start_background(app: Any) -> None:
    """Deliver mail and back-channel logouts from this worker, and listen for other processes'
    changes to forget cached rows (idp/invalidation.py); stop them when it exits."""
    from idp.invalidation import start_listener
    from idp.mail.worker import start_sender
    from idp.oauth.backchannel import start_delivery

    for job in (start_sender(app), start_delivery(app)):
        multiprocessing.util.Finalize(job, job.stop, exitpriority=10)
    listener = start_listener(app, app.config["IDP"].database_url)
    if listener is not None:
        multiprocessing.util.Finalize(listener, listener.stop, exitpriority=10)


def _logging_config(config: Config) -> dict[str, Any]:
    """Granian's own events look like the application's log (idp.app) and go to standard error with
    it; the access log has its own lines, on standard output."""
    json_lines = config.log_format == "json"
    return {
        "formatters": {
            "generic": {"()": "idp.logs.JsonFormatter"} if json_lines else {
                "()": "logging.Formatter", "fmt": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
            "access": {"()": "idp.logs.JsonFormatter"} if json_lines else {
                "()": "logging.Formatter", "fmt": "%(message)s [%(request_id)s]"},
        },
        "filters": {"context": {"()": "idp.logs.RequestContext"}},
        "handlers": {
            "console": {"formatter": "generic", "class": "logging.StreamHandler", "stream": "ext://sys.stderr",
                        "filters": ["context"]},
            "access": {"formatter": "access", "class": "logging.StreamHandler", "stream": "ext://sys.stdout",
                       "filters": ["context"]},
        },
        "loggers": {
            "_granian": {"handlers": ["console"], "level": config.log_level, "propagate": False},
            "idp.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
        },
    }


def run(*, host: str, port: int, workers: int) -> None:
    from granian.constants import HTTPModes, Interfaces
    from granian.http import HTTP1Settings
    from granian.log import LogLevels
    from granian.server import Server

    global _config
    _config = load_config()  # fail here, with the setting's name, not in a worker
    Server(
        "idp.server:worker_app",
        factory=True,
        address=host,
        port=port,
        interface=Interfaces.WSGI,
        workers=workers,
        blocking_threads=1,
        runtime_threads=1,
        http=HTTPModes.http1,
        websockets=False,
        http1_settings=HTTP1Settings(header_read_timeout=HEADER_READ_TIMEOUT_MS, keep_alive=True,
                                     max_buffer_size=MAX_HEADER_BUFFER),
        log_level=LogLevels(_config.log_level.lower()),
        log_dictconfig=_logging_config(_config),
        log_access=False,  # our AccessLog: Granian's line carries the decoded path unescaped
        respawn_failed_workers=True,
        workers_kill_timeout=SHUTDOWN_GRACE_SECONDS,
    ).serve()
