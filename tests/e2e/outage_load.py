"""A few threads sending four kinds of request in a loop, every answer recorded: the load of the
database-outage test and of bench/database_outage.py.

Kinds: `token` (client_credentials through the token endpoint's WSGI front), `discovery` (JSON
through Flask), `page` (the sign-in page, HTML) and `create` (an admin API write, POST
/api/v1/users); `created` lists the emails whose creation answered 201, to check none is lost.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import requests

KINDS = ("token", "discovery", "page", "create")


@dataclass
class Answer:
    kind: str
    at: float
    status: int
    retry_after: str | None
    content_type: str


@dataclass
class Load:
    """Requests in a loop from a few threads, every answer recorded, until stopped."""

    base: str
    client: tuple[str, str]
    bearer: str
    answers: list[Answer] = field(default_factory=list)
    created: list[str] = field(default_factory=list)  # emails whose creation answered 201
    stopping: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self, worker: int) -> None:
        session = requests.Session()
        number = 0
        while not self.stopping.is_set():
            number += 1
            for kind in KINDS:
                email = f"p{worker}-{number}@outage.example"
                try:
                    response = self._send(session, kind, email)
                except requests.ConnectionError as error:  # recorded as status 0: the server dropped us
                    with self.lock:
                        self.answers.append(Answer(kind, time.monotonic(), 0, None, repr(error)))
                    continue
                with self.lock:
                    self.answers.append(Answer(kind, time.monotonic(), response.status_code,
                                               response.headers.get("Retry-After"),
                                               response.headers.get("Content-Type", "")))
                    if kind == "create" and response.status_code == 201:
                        self.created.append(email)

    def _send(self, session: requests.Session, kind: str, email: str) -> requests.Response:
        if kind == "token":
            return session.post(f"{self.base}/token", data={"grant_type": "client_credentials"}, auth=self.client,
                                timeout=15)
        if kind == "discovery":
            return session.get(f"{self.base}/.well-known/openid-configuration", timeout=15)
        if kind == "page":
            return session.get(f"{self.base}/login", timeout=15)
        return session.post(f"{self.base}/api/v1/users", json={"email": email}, timeout=15,
                            headers={"Authorization": f"Bearer {self.bearer}"})

    def start(self, threads: int) -> list[threading.Thread]:
        started = [threading.Thread(target=self.run, args=(n,), daemon=True) for n in range(threads)]
        for thread in started:
            thread.start()
        return started
