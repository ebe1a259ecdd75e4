"""What the e2e tests share with their fixtures: the seeded tenants and the running server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

LOG_TAIL_CHARS = 20_000

PASSWORD = "e2e correct horse battery"
SWIM = "e2e-swim"
OTHER = "e2e-other"
EMAIL = "coach@e2e-swim.example"
NEWCOMER = "newcomer@e2e-swim.example"  # invited staff without a password yet
NAME = "Robin Swimcoach"
OTHER_NAME = "Robin Elsewhere"
E2E_ACCOUNTS = (SWIM, OTHER)
PERSISTENT_DAYS = 30

TENANT_FILES = {
    SWIM: f"""
account = "{SWIM}"
name = "E2E Swim School"

[settings]
persistent_session_days = {PERSISTENT_DAYS}

[[users]]
email = "{EMAIL}"
name = "{NAME}"
password = "{PASSWORD}"
verified = true
pool = "staff"

[[users]]
email = "{NEWCOMER}"
name = "Nova Newcomer"
pool = "staff"
""",
    # The same email in another tenant, with another name: a cookie of one tenant must not sign
    # anyone in at the other, even though a matching person exists there.
    OTHER: f"""
account = "{OTHER}"
name = "E2E Other Studio"

[[users]]
email = "{EMAIL}"
name = "{OTHER_NAME}"
password = "{PASSWORD}"
verified = true
pool = "staff"
""",
}


@dataclass(frozen=True)
class IdpServer:
    port: int
    log_path: Path
    database_url: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def path_url(self, account: str, path: str = "/login") -> str:
        return f"{self.url}/a/{account}{path}"

    def host_url(self, account: str, path: str = "/login") -> str:
        return f"http://{account}.localhost:{self.port}{path}"

    @property
    def outbox(self) -> Path:
        """IDP_MAIL_OUTBOX of the server: its mail arrives here as .eml files."""
        return self.log_path.parent / "outbox"

    def log(self) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError as exc:
            return f"(no server log: {exc})"
        return text[-LOG_TAIL_CHARS:]


@contextmanager
def app_page(name: str) -> Iterator[str]:
    """A relying party's redirect URI as a real page (the browser really lands there, on a heading
    "Back at the NAME"), on a free loopback port; yields its callback URL."""
    body = f"<!doctype html><title>{name}</title><h1>Back at the {name}</h1>".encode()

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/callback"
    finally:
        server.shutdown()
