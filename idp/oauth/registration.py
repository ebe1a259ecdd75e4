"""Dynamic client registration (RFC 7591, OIDC Registration) and management (RFC 7592).

Registration needs a per-tenant initial access token (RFC 7591 §3); each registered client gets a
registration access token for reading, updating and deleting itself. Both are stored only as
keyed hashes. Dynamically registered clients are never first-party and must use https redirect
URIs (loopback and private-use schemes for native apps), unlike operator-created ones.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import delete as sa_delete
from sqlalchemy import select

from idp import clock
from idp.crypto import constant_time_equals, keyring, random_token
from idp.db import db
from idp.oauth.client_metadata import validate_metadata
from idp.oauth.clients import SECRET_METHODS, RegisteredClient, find_client, forget_client, register_client
from idp.oauth.models import Client, InitialAccessToken
from idp.tenancy.models import Tenant

MAX_TOKEN_LENGTH = 256


def create_initial_access_token(tenant: Tenant, lifetime: timedelta | None = None) -> str:
    token = random_token(32)
    now = clock.now()
    db.session.add(InitialAccessToken(
        tenant_id=tenant.id, token_hash=keyring().hash_token(token), created_at=now,
        expires_at=now + lifetime if lifetime else None,
    ))
    return token


def check_initial_access_token(tenant: Tenant, token: str) -> bool:
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return False
    expires_at = db.session.execute(
        select(InitialAccessToken.expires_at).where(
            InitialAccessToken.tenant_id == tenant.id,
            InitialAccessToken.token_hash == keyring().hash_token(token),
        )
    ).first()
    return expires_at is not None and (expires_at[0] is None or expires_at[0] > clock.now())


def register(tenant: Tenant, metadata: dict[str, Any]) -> RegisteredClient:
    return register_client(tenant, metadata, operator=False, with_registration_token=True)


def managed_client(tenant: Tenant, client_id: str, registration_token: str) -> Client | None:
    """The client named by `client_id` if `registration_token` is its registration access token."""
    client = find_client(tenant, client_id)
    if client is None or client.registration_token_hash is None:
        return None
    if not registration_token or len(registration_token) > MAX_TOKEN_LENGTH:
        return None
    if not constant_time_equals(keyring().hash_token(registration_token), client.registration_token_hash):
        return None
    return client


def update(client: Client, metadata: dict[str, Any]) -> str | None:
    """RFC 7592 §2.2: the request replaces the metadata. A client that moves to a secret-based
    method gets a new secret (returned, shown once); one that moves to `none` loses its secret."""
    checked = validate_metadata(metadata, allow_http_loopback_web=False)
    client.client_metadata = checked
    needs_secret = checked["token_endpoint_auth_method"] in SECRET_METHODS
    if not needs_secret:
        client.client_secret_hash = None
        return None
    if client.client_secret_hash is None:
        secret = random_token(32)
        client.client_secret_hash = keyring().hash_token(secret)
        return secret
    return None


def delete(client: Client) -> bool:
    """RFC 7592 §2.3; its grants and codes go with it (ON DELETE CASCADE). False when another
    request deleted it first: the registration access token died with it."""
    deleted = db.session.execute(sa_delete(Client).where(Client.tenant_id == client.tenant_id, Client.id == client.id))
    forget_client(db.session(), client)
    return int(deleted.rowcount) == 1  # type: ignore[attr-defined]


def client_information(client: Client, issuer: str, registered: RegisteredClient | None = None) -> dict[str, Any]:
    """RFC 7591 §3.2.1 / RFC 7592 §3 response body."""
    body: dict[str, Any] = dict(client.client_metadata)
    body.update({
        "client_id": client.client_id,
        "client_id_issued_at": int(client.created_at.timestamp()),
        "registration_client_uri": f"{issuer}/register/{client.client_id}",
    })
    if registered is not None:
        if registered.client_secret:
            body["client_secret"] = registered.client_secret
            body["client_secret_expires_at"] = 0
        if registered.registration_access_token:
            body["registration_access_token"] = registered.registration_access_token
    return body
