"""Registering and finding clients; every look-up takes the tenant.

Every token request starts with its client, and a client changes only when an operator or its
registration access token edits it, so each process keeps the column values of the clients it
served for CLIENT_CACHE_SECONDS, or an hour while NOTIFY is heard (bounded in number), the way
tenants are kept
(docs/decisions/client-cache.md): a change flushed in this process forgets the client at once,
one made elsewhere is announced over PostgreSQL NOTIFY at its commit (idp/invalidation.py), and an
unknown client id is never cached. With the tenant and the signing keys cached too, a
client_credentials grant needs no database round trip at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app, has_app_context
from sqlalchemy import bindparam, event, select
from sqlalchemy.orm import Session

from idp import clock, invalidation
from idp.caches import ExpiringCache
from idp.crypto import constant_time_equals, keyring, random_token
from idp.db import columns_of, db, detached_instance, execute_core, loaded_instance
from idp.oauth.client_metadata import validate_metadata
from idp.oauth.models import Client
from idp.tenancy.models import Tenant

SECRET_METHODS = ("client_secret_basic", "client_secret_post")
CLIENT_CACHE_SECONDS = 5  # while no NOTIFY listener runs (SQLite, or its connection is down)
MAX_CLIENTS = 50_000  # per process
EXTENSION = "idp.client_cache"
ClientCache = ExpiringCache[tuple[str, str], dict[str, Any]]


@dataclass(frozen=True)
class RegisteredClient:
    client: Client
    client_secret: str | None  # shown once; only its hash is stored
    registration_access_token: str | None = None


def register_client(
    tenant: Tenant,
    raw_metadata: dict[str, Any],
    *,
    first_party: bool = False,
    pool: str = "staff",
    operator: bool = True,
    client_id: str | None = None,
    client_secret: str | None = None,
    with_registration_token: bool = False,
) -> RegisteredClient:
    """Create a client (the unit of work commits). `operator` clients may use http loopback URIs, admin
    scopes and client_credentials; self-registered ones (RFC 7591) may not."""
    metadata = validate_metadata(raw_metadata, allow_http_loopback_web=operator, operator=operator)
    needs_secret = metadata["token_endpoint_auth_method"] in SECRET_METHODS
    secret = (client_secret or random_token(32)) if needs_secret else None
    registration_token = random_token(32) if with_registration_token else None
    client = Client(
        tenant_id=tenant.id,
        client_id=client_id or random_token(18),
        client_secret_hash=keyring().hash_token(secret) if secret else None,
        registration_token_hash=keyring().hash_token(registration_token) if registration_token else None,
        pool=pool,
        first_party=first_party,
        created_at=clock.now(),
    )
    client.client_metadata = metadata
    db.session.add(client)
    db.session.flush()
    return RegisteredClient(client, secret, registration_token)


# Built once: on the token path, building a statement costs more CPU than running it. Every token
# request starts here, so it runs as a Core statement (idp.db.execute_core).
_CLIENT = columns_of(Client)
_CLIENT_OF_TENANT = select(*_CLIENT.columns).where(Client.tenant_id == bindparam("tenant_id"),
                                                   Client.client_id == bindparam("client_id"))


def init_app(app: Flask) -> None:
    app.extensions[EXTENSION] = ClientCache(CLIENT_CACHE_SECONDS, MAX_CLIENTS)
    invalidation.on("client", _forget_announced)
    invalidation.on_missed("clients", lambda app: app.extensions[EXTENSION].clear())


def find_client(tenant: Tenant, client_id: str) -> Client | None:
    if not client_id or len(client_id) > 64:
        return None
    cache: ClientCache | None = current_app.extensions.get(EXTENSION)
    key, now = (tenant.id, client_id), clock.now()
    values = cache.get(key, now) if cache is not None else None
    if values is None:
        seen = cache.generation if cache is not None else None
        row = execute_core(_CLIENT_OF_TENANT, {"tenant_id": tenant.id, "client_id": client_id}).first()
        values = _CLIENT.values(row) if row is not None else None
        if values is None:
            return None
        if cache is not None:
            cache.put(key, values, now, invalidation.lifetime(current_app, CLIENT_CACHE_SECONDS), seen)
    return loaded_instance(Client, values)  # this request's own instance, attached without a query


def cached_client_snapshot(tenant: Tenant, client_id: str) -> Client | None:
    """The client as this process's cache holds it, as a read-only snapshot
    (idp.db.detached_instance), or None when it is not cached: `find_client` reads and caches it."""
    cache: ClientCache | None = current_app.extensions.get(EXTENSION)
    values = cache.get((tenant.id, client_id), clock.now()) if cache is not None else None
    return detached_instance(Client, values) if values is not None else None


def forget_client(session: Session, client: Client) -> None:
    """This client changed (or is gone): every process forgets it, this one now, the others at commit."""
    if has_app_context():
        cache: ClientCache | None = current_app.extensions.get(EXTENSION)
        if cache is not None:
            cache.forget((client.tenant_id, client.client_id))
    invalidation.announce(session, "client", f"{client.tenant_id}|{client.client_id}")


def _forget_announced(app: Flask, key: str) -> None:
    tenant_id, _, client_id = key.partition("|")
    cache: ClientCache | None = app.extensions.get(EXTENSION)
    if cache is not None:
        cache.forget((tenant_id, client_id))


@event.listens_for(Session, "after_flush")
def _forget_changed_clients(session: Session, flush_context: Any) -> None:
    for obj in (*session.dirty, *session.deleted):
        if isinstance(obj, Client):
            forget_client(session, obj)


def check_client_secret(client: Client, secret: str) -> bool:
    if client.client_secret_hash is None or not secret or len(secret) > 512:
        return False
    return constant_time_equals(keyring().hash_token(secret), client.client_secret_hash)
