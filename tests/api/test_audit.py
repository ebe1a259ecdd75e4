"""Admin API: the audit trail, newest first, in keyset pages, filtered, tenant-scoped; and
`idp audit prune`."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from idp.audit import service as audit
from idp.tenancy.models import Tenant
from idp.unit_of_work import unit_of_work
from tests.helpers import make_tenant, make_user
from tests.oauth.helpers import RP, client_credentials_token, make_rp

URL = "/a/acme/api/v1/audit-events"


@pytest.fixture
def tenant(app: Flask) -> Tenant:
    return make_tenant()


@pytest.fixture
def auditor(tenant: Tenant) -> RP:
    return make_rp(tenant, grant_types=["client_credentials"], redirect_uris=[], scope="audit:read users:read")


def record_events(app: Flask, tenant: Tenant, count: int, event: str = "policy.accepted", **kwargs: Any) -> None:
    clock = app.extensions["idp.clock"]
    with unit_of_work():
        for n in range(count):
            clock.advance(timedelta(seconds=1))
            audit.record(tenant, event, user_id=kwargs.get("user_id"), ip="10.0.0.1", n=n)


def get(client: FlaskClient, rp: RP, **params: str) -> Any:
    token = client_credentials_token(client, rp, "audit:read")
    return client.get(URL, query_string=params, headers={"Authorization": f"Bearer {token}"})


def test_pages_are_newest_first_and_never_repeat_or_skip(app: Flask, client: FlaskClient, tenant: Tenant,
                                                         auditor: RP) -> None:
    record_events(app, tenant, 7)
    seen, cursor = [], None
    while True:
        page = get(client, auditor, limit="3", **({"cursor": cursor} if cursor else {}))
        assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
        body = page.get_json()
        seen += [event["detail"]["n"] for event in body["events"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
        record_events(app, tenant, 1, event="newsletter.subscribed")  # written while paging: not in the past pages
    assert seen == [6, 5, 4, 3, 2, 1, 0]
    assert len(seen) == len(set(seen)) == 7


def test_filters_by_type_family_subject_and_time(app: Flask, client: FlaskClient, tenant: Tenant,
                                                 auditor: RP) -> None:
    user = make_user(tenant)
    record_events(app, tenant, 2, event="policy.accepted", user_id=user.id)
    record_events(app, tenant, 3, event="federation.linked")
    by_type = get(client, auditor, type="policy.accepted").get_json()["events"]
    assert [e["type"] for e in by_type] == ["policy.accepted"] * 2 and by_type[0]["subject"] == user.sub
    family = get(client, auditor, type="federation.").get_json()["events"]
    assert len(family) == 3 and family[0]["subject"] is None
    assert len(get(client, auditor, subject=user.sub).get_json()["events"]) == 2
    assert get(client, auditor, subject="nobody").get_json() == {"events": [], "next_cursor": None}
    later = (app.extensions["idp.clock"].now() - timedelta(seconds=2)).isoformat()
    assert len(get(client, auditor, since=later).get_json()["events"]) == 2


def test_another_tenants_events_are_never_listed(app: Flask, client: FlaskClient, tenant: Tenant,
                                                  auditor: RP) -> None:
    record_events(app, make_tenant("beta", "Beta"), 3)
    assert get(client, auditor).get_json()["events"] == []


@pytest.mark.parametrize("params", [
    {"limit": "0"}, {"limit": "201"}, {"limit": "ten"}, {"cursor": "not-a-cursor"}, {"cursor": "W10"},
    {"since": "yesterday"}, {"type": "DROP TABLE"}, {"type": "a" * 200},
])
def test_bad_parameters_are_400(client: FlaskClient, auditor: RP, params: dict[str, str]) -> None:
    response = get(client, auditor, **params)
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_request"


def test_the_scope_is_audit_read(client: FlaskClient, auditor: RP) -> None:
    token = client_credentials_token(client, auditor, "users:read")
    assert client.get(URL, headers={"Authorization": f"Bearer {token}"}).status_code == 403
    assert client.get(URL).status_code == 401


def test_prune_deletes_what_is_older_than_the_retention(app: Flask, tenant: Tenant) -> None:
    record_events(app, tenant, 3)
    app.extensions["idp.clock"].advance(timedelta(days=10))
    record_events(app, tenant, 2)
    with unit_of_work():
        deleted = audit.prune(app.extensions["idp.clock"].now() - timedelta(days=5))
    assert deleted == 3
    page = audit.page_of_events(tenant, audit.AuditQuery.parse(event=None, user_id=None, since=None, cursor=None,
                                                               limit=10))
    assert [e.detail["n"] for e in page.events] == [1, 0]
