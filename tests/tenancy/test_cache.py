"""The per-process tenant cache: bounded staleness across processes, none within one, never across tenants."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from idp.db import db
from idp.tenancy.cache import TENANT_CACHE_SECONDS
from idp.tenancy.service import apply_settings, find_tenant, rename_tenant
from tests.helpers import cli_in_another_process, make_tenant, statements_run


def _title(client: FlaskClient, account: str) -> str:
    response = client.get(f"/a/{account}/login")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    return html.split("<title>", 1)[1].split("</title>", 1)[0]


def _tenant_selects(statements: list[str]) -> int:
    return sum(1 for s in statements if s.startswith("SELECT") and "FROM TENANTS" in s)


def test_a_served_tenant_is_read_once_per_bound(app: Flask, client: FlaskClient) -> None:
    make_tenant()
    with statements_run() as statements:
        assert "Acme Swim School" in _title(client, "acme")
        assert _tenant_selects(statements) == 1
        _title(client, "acme")
        assert _tenant_selects(statements) == 1, "the second request is served from the cache"
        app.extensions["idp.clock"].advance(timedelta(seconds=TENANT_CACHE_SECONDS + 1))
        _title(client, "acme")
        assert _tenant_selects(statements) == 2, "after the bound the row is read again"


def test_a_change_by_another_process_is_seen_within_the_bound(
    app: Flask, client: FlaskClient, config: Any, tmp_path: Path
) -> None:
    make_tenant()
    assert "Acme Swim School" in _title(client, "acme")
    tenant_file = tmp_path / "acme.toml"
    tenant_file.write_text('account = "acme"\nname = "Acme Aquatics"\n[settings]\nidle_timeout_seconds = 900\n')
    cli_in_another_process(config, "tenant", "apply", str(tenant_file))

    assert "Acme Swim School" in _title(client, "acme"), "within the bound the old row may still answer"
    app.extensions["idp.clock"].advance(timedelta(seconds=TENANT_CACHE_SECONDS + 1))
    assert "Acme Aquatics" in _title(client, "acme")


def test_a_change_in_this_process_takes_effect_at_once(app: Flask, client: FlaskClient) -> None:
    tenant = make_tenant()
    assert "Acme Swim School" in _title(client, "acme")
    rename_tenant(tenant, "Acme Aquatics")
    apply_settings(tenant, {"idle_timeout_seconds": 900})
    db.session.commit()
    assert "Acme Aquatics" in _title(client, "acme")


def test_an_unknown_account_is_not_cached(app: Flask, client: FlaskClient, config: Any) -> None:
    assert client.get("/a/newcomer/login").status_code == 404
    cli_in_another_process(config, "tenant", "create", "newcomer", "--name", "Newcomer Gym")
    assert "Newcomer Gym" in _title(client, "newcomer"), "a tenant created elsewhere answers at once"


def test_the_cache_never_serves_one_tenant_for_another(app: Flask, client: FlaskClient) -> None:
    make_tenant("acme", "Acme Swim School")
    make_tenant("other", "Other Studio")
    for _ in range(2):  # the second round comes from the cache
        assert "Acme Swim School" in _title(client, "acme") and "Other Studio" not in _title(client, "acme")
        assert "Other Studio" in _title(client, "other") and "Acme" not in _title(client, "other")


def test_a_cached_tenant_is_a_live_row_of_the_request(app: Flask, client: FlaskClient) -> None:
    """What a request gets from the cache behaves as if just loaded: attached, clean, and writable."""
    from idp.tenancy.cache import cached_tenant

    make_tenant()
    with app.test_request_context("/a/acme/login"):
        first = cached_tenant("acme")
    db.session.remove()
    with app.app_context(), app.test_request_context("/a/acme/login"):
        served = cached_tenant("acme")
        assert served is not None and served is not first
        assert served in db.session and not db.session.dirty
        apply_settings(served, {"idle_timeout_seconds": 1200})
        db.session.commit()
    db.session.expire_all()
    stored = find_tenant("acme")
    assert stored is not None and stored.idle_timeout_seconds == 1200
