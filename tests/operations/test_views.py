"""GET /metrics: off without IDP_METRICS_TOKEN, behind it otherwise; the numbers move with the
traffic, and no label names a tenant or a person."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from flask import Flask
from prometheus_client.parser import text_string_to_metric_families

from idp.app import create_app
from idp.config import Config
from tests.helpers import PASSWORD, make_tenant, make_user, sign_in
from tests.oauth.helpers import client_credentials_token, make_rp

TOKEN = "metrics-token-0123456789-abcdef"


@pytest.fixture
def metered(config: Config, database: str, key_pool: Any) -> Any:
    from idp.signing.service import KEY_GENERATOR

    app = create_app(replace(config, metrics_token=TOKEN), TESTING=True)
    app.extensions[KEY_GENERATOR] = key_pool.generate
    from tests.conftest import IsolatedClient

    app.test_client_class = IsolatedClient
    with app.app_context():
        yield app
        from tests.conftest import _empty_tables

        _empty_tables()


def samples(app: Flask) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    answer = app.test_client().get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200 and answer.mimetype == "text/plain"
    found = {}
    for family in text_string_to_metric_families(answer.get_data(as_text=True)):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found: dict[Any, float], name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_are_off_without_a_token(app: Flask, client: Any) -> None:
    assert client.get("/metrics").status_code == 404


@pytest.mark.parametrize("header", [None, "Bearer wrong-token-0123456789-abcdef", f"Basic {TOKEN}"])
def test_the_token_is_required(metered: Flask, header: str | None) -> None:
    answer = metered.test_client().get("/metrics", headers={"Authorization": header} if header else {})
    assert answer.status_code == 401 and answer.get_json()["error"] == "invalid_token"


def test_the_numbers_move_with_sign_ins_and_tokens(metered: Flask) -> None:
    tenant = make_tenant()
    make_user(tenant)
    service = make_rp(tenant, grant_types=["client_credentials"], redirect_uris=[], scope="users:read")
    before = samples(metered)
    client = metered.test_client()
    sign_in(client, password="wrong password here")
    sign_in(client, password=PASSWORD)
    client_credentials_token(client, service, "users:read")
    after = samples(metered)
    for result in ("success", "bad_password"):
        assert value(after, "portcullis_sign_ins_total", result=result) == \
            value(before, "portcullis_sign_ins_total", result=result) + 1
    assert value(after, "portcullis_tokens_issued_total", grant_type="client_credentials") == \
        value(before, "portcullis_tokens_issued_total", grant_type="client_credentials") + 1
    assert value(after, "portcullis_mail_outbox_depth") == 0
    assert ("portcullis_backchannel_logout_queue_depth", ()) in after
    labels = {v for (_, pairs) in after for _, v in pairs}
    assert not {v for v in labels if "acme" in v or "@" in v}, "labels never carry tenants or people"


def test_metrics_live_at_the_root_only(metered: Flask) -> None:
    make_tenant()
    answer = metered.test_client().get("/a/acme/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 404
