"""`idp serve`: gunicorn, the production WSGI server, in-process.

Workers are gunicorn's `gthread` class with a single request thread: one request at a time per
worker process, like `sync`, but HTTP/1.1 keep-alive works, so a relying party's back end (or a
proxy) reuses its connection instead of paying a TCP connect and a new accept per token request.
More request threads per worker measured slower on this CPU-bound path (they contend for the
GIL); scale with `--workers` (docs/decisions/gthread-keep-alive-workers.md).
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger

from idp.app import create_app
from idp.config import load_config

# How long an idle kept-alive connection stays open (gunicorn's default is 2 s).
KEEPALIVE_SECONDS = 5


class AccessLog(Logger):
    """gunicorn's logger with a fixed, lean access line that leaves the query string out.

    Query strings here carry personal data and credentials (`login_hint`, `id_token_hint`, `state`,
    a code on a callback), so the line has the path only:
    `127.0.0.1 - - [01/Dec/2026:09:24:13 +0000] "POST /a/acme/token HTTP/1.1" 200 612 2.9ms "curl/8.5"`.
    gunicorn's own formatter builds a dictionary of every header and environ entry for each
    request; this line costs a small fraction of it (bench/RESULTS.md).
    """

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: timedelta) -> None:
        if not self.access_log_enabled:
            return
        status = str(resp.status).split(None, 1)[0]
        sent = getattr(resp, "sent", None)
        agent = environ.get("HTTP_USER_AGENT", "-").replace('"', "'")
        # The request target as received (PATH_INFO is rewritten by the tenant router), undecoded
        # so no escaped control character reaches the log, and cut before the query.
        path = environ.get("RAW_URI", "-").split("?", 1)[0]
        self.access_log.info(
            '%s - - %s "%s %s %s" %s %s %.1fms "%s"',
            environ.get("REMOTE_ADDR", "-"), time.strftime("[%d/%b/%Y:%H:%M:%S %z]"),
            environ.get("REQUEST_METHOD", "-"), path, environ.get("SERVER_PROTOCOL", "-"),
            status, sent if sent is not None else "-", request_time.total_seconds() * 1000, agent,
        )


class PortcullisServer(BaseApplication):
    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        self.config_checked = load_config()  # fail here, with the setting's name, not in a worker
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return create_app(self.config_checked)


def run(*, host: str, port: int, workers: int) -> None:
    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": "gthread",
        "threads": 1,
        "keepalive": KEEPALIVE_SECONDS,
        "accesslog": "-",
        "logger_class": AccessLog,
        "errorlog": "-",
        "timeout": 30,
        "graceful_timeout": 10,
        "limit_request_line": 8190,
        "forwarded_allow_ips": "127.0.0.1,::1",
        "control_socket_disable": True,  # no `gunicornc` socket: signals are the interface
        "post_worker_init": _start_background,
        "worker_exit": _stop_background,
    }
    PortcullisServer(options).run()


def _start_background(worker: Any) -> None:
    """gunicorn hook, in each worker after it forked: deliver mail and back-channel logouts."""
    from idp.mail.worker import start_sender
    from idp.oauth.backchannel import start_delivery

    worker.mail_sender = start_sender(worker.wsgi)
    worker.logout_delivery = start_delivery(worker.wsgi)


def _stop_background(server: Any, worker: Any) -> None:
    for name in ("mail_sender", "logout_delivery"):
        thread = getattr(worker, name, None)
        if thread is not None:
            thread.stop()
