"""The admin API's OpenAPI document is true: schemathesis throws generated requests, valid and
invalid, at every operation of a live `idp serve`, with a token holding every admin scope, and
checks that no answer is a 5xx and every status, content type and body is one the document
allows. Bounded (SCHEMATHESIS_EXAMPLES per operation), on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.e2e.conftest import serving_tenant
from tests.e2e.support import IdpServer

pytestmark = pytest.mark.e2e

ACCOUNT = "e2e-openapi"
SCOPES = ("users:read users:write business:read business:write connections:read connections:write audit:read "
          "families:read families:write")
SECRET = "openapi-test-client-secret-0123456789"
EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "25"))
TENANT = f"""
account = "{ACCOUNT}"
name = "E2E OpenAPI"
[[clients]]
client_id = "admin"
client_secret = "{SECRET}"
client_name = "Admin"
grant_types = ["client_credentials"]
redirect_uris = []
scope = "{SCOPES}"
[[users]]
email = "someone@e2e-openapi.example"
name = "Some One"
"""


@pytest.fixture(scope="module")
def api_server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[IdpServer]:
    with serving_tenant(database_url, tmp_path_factory.mktemp("idp-e2e-openapi"), ACCOUNT, TENANT) as server:
        yield server


def test_the_document_is_served_and_names_every_route(api_server: IdpServer) -> None:
    document = requests.get(api_server.path_url(ACCOUNT, "/api/v1/openapi.json"), timeout=10).json()
    assert document["openapi"] == "3.1.0"
    assert document["servers"] == [{"url": api_server.path_url(ACCOUNT, "/api/v1")}]
    from idp.app import create_app  # the live app's routes, to compare: a route must not be left out
    from idp.config import Config

    app = create_app(Config(database_url="sqlite://", public_url="http://x", base_domain="x", smtp_url=None,
                            mail_outbox=Path("/nonexistent"), master_key=b"k" * 32))
    routes = {rule.rule.removeprefix("/api/v1").replace("<", "{").replace(">", "}")
              for rule in app.url_map.iter_rules() if rule.endpoint.startswith("api.")}
    assert routes - {"/openapi.json"} == set(document["paths"])


def test_every_operation_answers_as_documented(api_server: IdpServer) -> None:
    token = requests.post(api_server.path_url(ACCOUNT, "/token"), timeout=10, auth=("admin", SECRET),
                          data={"grant_type": "client_credentials", "scope": SCOPES}).json()["access_token"]
    done = subprocess.run(  # noqa: S603
        [str(Path(sys.executable).with_name("schemathesis")), "run",
         api_server.path_url(ACCOUNT, "/api/v1/openapi.json"),
         "--header", f"Authorization: Bearer {token}",
         "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,"
                     "response_schema_conformance",
         "--max-examples", str(EXAMPLES), "--phases", "examples,coverage,fuzzing,stateful",
         "--workers", "1", "--no-color", "--suppress-health-check", "all"],
        capture_output=True, text=True, timeout=600, check=False,
        env={**os.environ, "SCHEMATHESIS_HOOKS": ""},
    )
    assert done.returncode == 0, f"{done.stdout[-6000:]}\n{done.stderr[-2000:]}\n{api_server.log()[-3000:]}"
