"""Registering and finding clients; every look-up takes the tenant."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select

from idp import clock
from idp.crypto import constant_time_equals, keyring, random_token
from idp.db import columns_of, db, execute_core, loaded_instance
from idp.oauth.client_metadata import validate_metadata
from idp.oauth.models import Client
from idp.tenancy.models import Tenant

SECRET_METHODS = ("client_secret_basic", "client_secret_post")


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


def find_client(tenant: Tenant, client_id: str) -> Client | None:
    if not client_id or len(client_id) > 64:
        return None
    row = execute_core(_CLIENT_OF_TENANT, {"tenant_id": tenant.id, "client_id": client_id}).first()
    values = _CLIENT.values(row) if row is not None else None
    return loaded_instance(Client, values) if values is not None else None


def check_client_secret(client: Client, secret: str) -> bool:
    if client.client_secret_hash is None or not secret or len(secret) > 512:
        return False
    return constant_time_equals(keyring().hash_token(secret), client.client_secret_hash)
