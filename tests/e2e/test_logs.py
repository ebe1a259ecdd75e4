"""The log of a live `idp serve` with IDP_LOG_FORMAT=json through a full flow: one JSON object per
line, the request id of each answer on its access line, and no password, token, secret, code or
query string anywhere."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.e2e.conftest import serving_tenant
from tests.e2e.support import IdpServer

pytestmark = pytest.mark.e2e

ACCOUNT = "e2e-logs"
PASSWORD = "a long and secret passphrase 77"
SECRET = "logs-test-client-secret-0123456789abc"
TENANT = f"""
account = "{ACCOUNT}"
name = "E2E Logs"
[[clients]]
client_id = "portal"
client_secret = "{SECRET}"
client_name = "Portal"
grant_types = ["client_credentials"]
redirect_uris = []
scope = "users:read"
[[users]]
email = "logger@e2e-logs.example"
password = "{PASSWORD}"
verified = true
"""


@pytest.fixture(scope="module")
def json_server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[IdpServer]:
    with serving_tenant(database_url, tmp_path_factory.mktemp("idp-e2e-logs"), ACCOUNT, TENANT,
                        {"IDP_LOG_FORMAT": "json"}) as server:
        yield server


def test_a_full_flow_logs_json_with_request_ids_and_no_secrets(json_server: IdpServer) -> None:
    browser = requests.Session()
    url = json_server.path_url
    page = browser.get(url(ACCOUNT, "/login"), timeout=10)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    signed_in = browser.post(url(ACCOUNT, "/login"), timeout=10, allow_redirects=False,
                             data={"csrf_token": csrf, "email": "logger@e2e-logs.example", "password": PASSWORD})
    assert signed_in.status_code == 303
    session_cookie = browser.cookies.get("portcullis_session")
    token = requests.post(url(ACCOUNT, "/token"), auth=("portal", SECRET), timeout=10,
                          data={"grant_type": "client_credentials", "scope": "users:read"})
    access = token.json()["access_token"]
    looked_up = requests.get(url(ACCOUNT, "/api/v1/users/nobody"), timeout=10,
                             headers={"Authorization": f"Bearer {access}"})
    assert looked_up.status_code == 404
    hinted = browser.get(url(ACCOUNT, "/authorize"), timeout=10, allow_redirects=False,
                         params={"client_id": "portal", "login_hint": "hint-value@e2e-logs.example",
                                 "state": "state-value-xyz"})
    log = json_server.log()
    lines: list[dict[str, Any]] = []
    for raw in log.splitlines():
        if raw.strip():
            lines.append(json.loads(raw))  # every line is one JSON object
    access_lines = {line["request_id"]: line for line in lines if line.get("event") == "http_request"}
    for answer, route in ((token, "/token"), (looked_up, "/api/v1/users/<sub>"), (signed_in, "/login")):
        line = access_lines[answer.headers["X-Request-Id"]]
        assert line["route"] == route and line["tenant"] == ACCOUNT and line["status"] == answer.status_code
    assert access_lines[hinted.headers["X-Request-Id"]]["path"] == f"/a/{ACCOUNT}/authorize"
    for secret in (PASSWORD, SECRET, access, session_cookie or "no-cookie", csrf, "hint-value", "state-value-xyz"):
        assert secret not in log, f"{secret[:12]}… is in the log"
