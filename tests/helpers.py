"""Small factories and page helpers shared by the tests."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import event

from idp.accounts.models import User
from idp.accounts.service import create_user
from idp.db import db
from idp.provisioning import tenant_file
from idp.provisioning.tenant_file import ApplyResult
from idp.provisioning.tenants import create_tenant
from idp.tenancy.models import Tenant
from idp.unit_of_work import unit_of_work

PASSWORD = "correct horse battery"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def cli_in_another_process(config: Any, *args: str) -> str:
    """`idp ARGS` with its own app, as an operator runs it: the test app's caches are not told."""
    from click.testing import CliRunner

    from idp.cli import main

    env = {
        "IDP_DATABASE_URL": config.database_url,
        "IDP_MASTER_KEY": base64.urlsafe_b64encode(config.master_key).decode(),
        "IDP_PUBLIC_URL": "http://localhost",
        "IDP_BASE_DOMAIN": "localhost",
    }
    result = CliRunner().invoke(main, list(args), env=env)
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    return result.output


@contextmanager
def statements_run() -> Iterator[list[str]]:
    """Every SQL statement sent while the block runs, whitespace folded and upper-cased."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        seen.append(" ".join(statement.split()).upper())

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


def make_tenant(account: str = "acme", name: str = "Acme Swim School", **settings: Any) -> Tenant:
    tenant = create_tenant(account, name, settings)
    db.session.commit()
    return tenant


def make_user(tenant: Tenant, email: str = "coach@example.com", password: str | None = PASSWORD,
              **fields: Any) -> User:
    user = create_user(tenant, email=email, password=password, **fields)
    db.session.commit()
    return user


def apply_tenant_file(path: Path) -> ApplyResult:
    """`idp tenant apply` as the CLI runs it: in a unit of work of its own, committed."""
    with unit_of_work():
        return tenant_file.apply_tenant_file(path)


def csrf_from(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "page has no CSRF field"
    return match.group(1)


def sign_in(client: FlaskClient, prefix: str = "/a/acme", email: str = "coach@example.com",
            password: str = PASSWORD, stay: bool = False, extra_form: dict[str, str] | None = None,
            query_string: dict[str, str] | None = None, **kwargs: Any):  # type: ignore[no-untyped-def]
    page = client.get(f"{prefix}/login", query_string=query_string, **kwargs)
    form = {"csrf_token": csrf_from(page.get_data(as_text=True)), "email": email, "password": password}
    if stay:
        form["stay_logged_in"] = "on"
    form.update(extra_form or {})
    return client.post(f"{prefix}/login", data=form, **kwargs)
