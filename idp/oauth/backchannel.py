"""Back-channel logout (OIDC Back-Channel Logout 1.0): logout tokens and a durable queue.

Logging out queues one notice per client with a `backchannel_logout_uri` that had a grant in
the ended session; `deliver_due` POSTs them and retries with exponential backoff when a relying
party is down, so a notice survives restarts and outages. The queue keeps the token's lasting
claims; every attempt signs a fresh `logout_token` (new iat, exp, jti: §2.4 wants a short exp
and a unique jti), so a retry after the outage is still a token the relying party accepts.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from datetime import timedelta

from flask import Flask
from sqlalchemy import select, update

from idp import clock
from idp.background import PeriodicJob
from idp.crypto import random_token
from idp.db import db
from idp.oauth import tokens
from idp.oauth.models import Client, Grant, LogoutDelivery
from idp.tenancy.models import Tenant
from idp.unit_of_work import unit_of_work

log = logging.getLogger(__name__)

EVENT = "http://schemas.openid.net/event/backchannel-logout"
LOGOUT_TOKEN_LIFETIME = 120
MAX_ATTEMPTS = 12  # about a day of retries: 30 s doubling, capped at 2 hours
FIRST_RETRY = timedelta(seconds=30)
MAX_RETRY = timedelta(hours=2)
TIMEOUT_SECONDS = 5


def queue_logout(tenant: Tenant, grants: list[Grant], user_sub: str | None) -> int:
    """Queue a logout token for each client of `grants` that asked for back-channel logout."""
    queued = 0
    seen: set[str] = set()
    for grant in grants:
        if grant.client_pk in seen:
            continue
        seen.add(grant.client_pk)
        client = db.session.get(Client, grant.client_pk)
        uri = client.client_metadata.get("backchannel_logout_uri") if client else None
        if client is None or not uri:
            continue
        now = clock.now()
        db.session.add(LogoutDelivery(
            tenant_id=tenant.id, client_pk=client.id, uri=uri, created_at=now, next_attempt_at=now,
            claims_json=json.dumps(logout_claims(client, grant, user_sub), sort_keys=True),
        ))
        queued += 1
    return queued


def logout_claims(client: Client, grant: Grant, user_sub: str | None) -> dict[str, object]:
    """The claims of a logout token that do not depend on when it is sent (§2.4)."""
    claims: dict[str, object] = {"iss": grant.issuer, "aud": client.client_id, "events": {EVENT: {}}}
    if grant.session_id:
        claims["sid"] = grant.session_id
    if user_sub:
        claims["sub"] = user_sub
    return claims


def logout_token(tenant: Tenant, client: Client, claims: dict[str, object]) -> str:
    """A logout token signed now: `claims` with a fresh iat, a short exp and a new jti."""
    now = int(clock.now().timestamp())
    fresh = claims | {"iat": now, "exp": now + LOGOUT_TOKEN_LIFETIME, "jti": random_token(16)}
    alg = str(client.client_metadata.get("id_token_signed_response_alg", "RS256"))
    return tokens.sign(tenant, fresh, alg=alg, typ="logout+jwt")


def deliver_due(limit: int = 50) -> int:
    """POST due logout tokens; returns how many were delivered. Safe to run in several processes."""
    now = clock.now()
    due = db.session.execute(
        select(LogoutDelivery.id).where(
            LogoutDelivery.delivered_at.is_(None), LogoutDelivery.attempts < MAX_ATTEMPTS,
            LogoutDelivery.next_attempt_at <= now,
        ).limit(limit)
    ).scalars().all()
    delivered = 0
    for delivery_id in due:
        delivered += _deliver_one(delivery_id)
    return delivered


def _deliver_one(delivery_id: str) -> int:
    now = clock.now()
    with unit_of_work():  # claim it: push the next attempt out before trying
        claimed = db.session.execute(
            update(LogoutDelivery)
            .where(LogoutDelivery.id == delivery_id, LogoutDelivery.delivered_at.is_(None),
                   LogoutDelivery.next_attempt_at <= now)
            .values(next_attempt_at=now + timedelta(seconds=TIMEOUT_SECONDS * 4))
        ).rowcount  # type: ignore[attr-defined]
    if claimed != 1:
        return 0
    with unit_of_work():
        delivery = db.session.get(LogoutDelivery, delivery_id)
        assert delivery is not None
        error = _post(delivery.uri, _fresh_token(delivery))
        delivery.attempts += 1
        if error is None:
            delivery.delivered_at = clock.now()
        else:
            delivery.last_error = error[:500]
            delivery.next_attempt_at = clock.now() + min(FIRST_RETRY * 2 ** (delivery.attempts - 1), MAX_RETRY)
            log.warning("back-channel logout to %s failed (attempt %d): %s", delivery.uri, delivery.attempts,
                        error)
    return 1 if error is None else 0


def _fresh_token(delivery: LogoutDelivery) -> str:
    tenant = db.session.get(Tenant, delivery.tenant_id)
    client = db.session.get(Client, delivery.client_pk)
    assert tenant is not None and client is not None  # both cascade-delete their deliveries
    return logout_token(tenant, client, delivery.claims)


def _post(uri: str, token: str) -> str | None:
    body = urllib.parse.urlencode({"logout_token": token}).encode()
    request = urllib.request.Request(  # noqa: S310 - the URI was validated as https (or loopback) at registration
        uri, data=body, method="POST", headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
            return None if response.status in (200, 204) else f"HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return str(exc)


def start_delivery(app: Flask, poll_seconds: float = 15.0) -> PeriodicJob:
    """Deliver due logout tokens every `poll_seconds` from inside an `idp serve` worker."""

    thread = PeriodicJob(app, "idp-logout-delivery", deliver_due, poll_seconds)
    thread.start()
    return thread
