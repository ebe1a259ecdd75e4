"""Each process's copy of tenant rows, for at most TENANT_CACHE_SECONDS.

Every request resolves its tenant before anything else, and on the token endpoint that SELECT was
a tenth of a grant. The row changes only when an operator edits the tenant, so each process keeps
the column values of each account it served (docs/decisions/tenant-cache.md):

- a change flushed in this process (the CLI, the admin API, tests) forgets the account at once;
- a change made by another process (another worker, another node, the CLI) is announced over
  PostgreSQL NOTIFY at its commit and forgotten at once (idp/invalidation.py); should that
  connection be down, it is seen within TENANT_CACHE_SECONDS;
- an unknown account is never cached: a tenant created elsewhere answers at once, and probing
  account names costs a query each, as before.

The cache holds plain values, never an ORM object: each request gets its own instance, attached to
its own session without a query, so a request's changes (or a rolled-back flush) cannot leak
into another's.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Flask, current_app, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session

from idp import clock, invalidation
from idp.caches import ExpiringCache
from idp.db import detached_instance, loaded_instance
from idp.tenancy.models import Tenant
from idp.tenancy.service import find_tenant

TENANT_CACHE_SECONDS = 5  # while no NOTIFY listener runs (SQLite, or its connection is down)
MAX_TENANTS = 20_000  # per process: a row's values are about a kilobyte
EXTENSION = "idp.tenant_cache"
_COLUMNS = tuple(attr.key for attr in Tenant.__mapper__.column_attrs)


class TenantCache(ExpiringCache[str, dict[str, Any]]):
    def __init__(self) -> None:
        super().__init__(TENANT_CACHE_SECONDS, MAX_TENANTS)

    def put_tenant(self, tenant: Tenant, now: datetime, seconds: float, seen: int) -> None:
        self.put(tenant.account, {key: getattr(tenant, key) for key in _COLUMNS}, now, seconds, seen)


def init_app(app: Flask) -> None:
    app.extensions[EXTENSION] = TenantCache()
    invalidation.on("tenant", _forget)
    invalidation.on_missed("tenants", lambda app: app.extensions[EXTENSION].clear())


def _forget(app: Flask, account: str) -> None:
    cache: TenantCache | None = app.extensions.get(EXTENSION)
    if cache is not None:
        cache.forget(account)


def cached_tenant(account: str) -> Tenant | None:
    """The tenant named `account` in this request's session, from the cache while it is fresh."""
    cache: TenantCache = current_app.extensions[EXTENSION]
    now = clock.now()
    values = cache.get(account, now)
    if values is None:
        seen = cache.generation  # a notice arriving while we read wins over what we read
        tenant = find_tenant(account)
        if tenant is not None:
            cache.put_tenant(tenant, now, invalidation.lifetime(current_app, TENANT_CACHE_SECONDS), seen)
        return tenant
    return loaded_instance(Tenant, values)  # attached without a query, as if just loaded


def cached_tenant_snapshot(account: str) -> Tenant | None:
    """The tenant named `account` as this process's cache holds it, as a read-only snapshot
    (idp.db.detached_instance), or None when it is not cached: then the caller takes the way
    through `cached_tenant`, which reads and caches it."""
    cache: TenantCache = current_app.extensions[EXTENSION]
    values = cache.get(account, clock.now())
    return detached_instance(Tenant, values) if values is not None else None


@event.listens_for(Session, "after_flush")
def _forget_changed_tenants(session: Session, flush_context: Any) -> None:
    if not has_app_context():
        return
    cache: TenantCache | None = current_app.extensions.get(EXTENSION)
    if cache is None:
        return
    for obj in (*session.dirty, *session.deleted):
        if isinstance(obj, Tenant):
            cache.forget(obj.account)
            invalidation.announce(session, "tenant", obj.account)  # and every other process, at commit
