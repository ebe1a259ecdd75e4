"""Metrics add up across Granian's workers: `idp serve --workers 2` answers 30 requests, and
every scrape, whichever worker answers it, counts all 30 (prometheus_client's multiprocess mode)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import IDP, _free_port, _server_env, _stop, _wait_until_healthy
from tests.e2e.support import IdpServer

pytestmark = pytest.mark.e2e

TOKEN = "e2e-metrics-token-0123456789abcdef"


def probes_counted(server: IdpServer) -> float:
    answer = requests.get(f"{server.url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert answer.status_code == 200, answer.text[:500]
    return sum(sample.value for family in text_string_to_metric_families(answer.text) for sample in family.samples
               if sample.name == "portcullis_http_requests_total" and sample.labels.get("route") == "/healthz")


def test_two_workers_numbers_add_up(database_url: str, tmp_path: Path) -> None:
    port = _free_port()
    server = IdpServer(port=port, log_path=tmp_path / "server.log", database_url=database_url)
    env = _server_env(database_url, port, tmp_path) | {"IDP_METRICS_TOKEN": TOKEN}
    with server.log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603
            [str(IDP), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        _wait_until_healthy(process, server)
        baseline = probes_counted(server)
        for _ in range(30):
            with requests.Session() as fresh:  # a new connection each time: both workers answer
                assert fresh.get(f"{server.url}/healthz", timeout=10).status_code == 200
        assert [probes_counted(server) - baseline for _ in range(6)] == [30] * 6, server.log()
    finally:
        _stop(process)
