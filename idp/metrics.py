"""Prometheus metrics, summed across Granian's workers.

`idp serve` points PROMETHEUS_MULTIPROC_DIR at a fresh directory before prometheus_client is
first imported (idp/cli.py), so
prometheus_client keeps each worker's counters in a file there and a scrape adds them up (its
multiprocess mode). Without that variable (tests, the CLI) the metrics live in this process.
Labels are route templates, grant types and results: never a tenant, a person or a value.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.registry import REGISTRY, Collector
from sqlalchemy import event
from sqlalchemy.pool import Pool

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST
SIGN_IN_RESULTS = ("success", "bad_password", "throttled", "second_factor", "federated")

HTTP_REQUESTS = Counter("portcullis_http_requests_total", "HTTP requests by route template, method and status",
                        ["route", "method", "status"])
HTTP_DURATION = Histogram("portcullis_http_request_duration_seconds", "Time to answer, by route template",
                          ["route"], buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
SIGN_INS = Counter("portcullis_sign_ins_total", "Sign-in steps by result", ["result"])
TOKENS_ISSUED = Counter("portcullis_tokens_issued_total", "Access tokens issued, by grant type", ["grant_type"])
REFRESH_REUSE = Counter("portcullis_refresh_token_reuse_total", "Spent refresh tokens presented again (grant revoked)")
DB_POOL_IN_USE = Gauge("portcullis_db_pool_connections_in_use",
                       "Database connections checked out of the workers' pools (as last seen by each)",
                       multiprocess_mode="livesum")


def sign_in(result: str) -> None:
    SIGN_INS.labels(result).inc()


def scrape(*collectors: Collector) -> bytes:
    """The exposition text: every worker's numbers (multiprocess mode) or this process's, and
    `collectors` read now (queue depths from the database)."""
    if os.environ.get(MULTIPROCESS_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    for collector in collectors:
        registry.register(collector)
    try:
        return bytes(generate_latest(registry))
    finally:
        for collector in collectors:
            registry.unregister(collector)


def worker_exited(pid: int) -> None:
    """Gauges of a worker that is gone stop counting (multiprocess mode)."""
    if os.environ.get(MULTIPROCESS_ENV):
        multiprocess.mark_process_dead(pid)


def pool_seen(pool: Pool) -> None:
    """Record how many of this worker's pooled connections are out (QueuePool; others have no count)."""
    checked_out = getattr(pool, "checkedout", None)
    if callable(checked_out):
        DB_POOL_IN_USE.set(checked_out())


def watch_pool(pool: Pool) -> None:
    event.listen(pool, "checkout", lambda *_: pool_seen(pool))
