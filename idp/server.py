"""`idp serve`: gunicorn, the production WSGI server, in-process.

Workers are gunicorn's `gthread` class with a single request thread: one request at a time per
worker process, like `sync`, but HTTP/1.1 keep-alive works, so a relying party's back end (or a
proxy) reuses its connection instead of paying a TCP connect and a new accept per token request.
More request threads per worker measured slower on this CPU-bound path (they contend for the
GIL); scale with `--workers` (bench/RESULTS.md).
"""

from __future__ import annotations

from typing import Any

from gunicorn.app.base import BaseApplication

from idp.app import create_app
from idp.config import load_config

# How long an idle kept-alive connection stays open (gunicorn's default is 2 s).
KEEPALIVE_SECONDS = 5


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
        "errorlog": "-",
        "timeout": 30,
        "graceful_timeout": 10,
        "limit_request_line": 8190,
        "forwarded_allow_ips": "127.0.0.1,::1",
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
