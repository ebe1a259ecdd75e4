"""The authorization endpoint's decisions, apart from HTTP (OIDC Core §3.1.2).

A validated request is kept server-side (`AuthorizationRequest`) while the person signs in or
consents; the browser carries only its random id, so nothing can be edited on the way and a
person who closes the tab starts again from the relying party.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import delete, select

from idp import clock
from idp.db import db, forget, remembered
from idp.oauth.models import AuthorizationRequest, Consent
from idp.tenancy.models import Tenant

PENDING_LIFETIME = timedelta(minutes=30)
# Parameters kept from the request (OIDC Core §3.1.2.1, RFC 7636); anything else is ignored.
KEPT_PARAMETERS = (
    "response_type", "client_id", "redirect_uri", "scope", "state", "nonce", "prompt", "max_age",
    "login_hint", "id_token_hint", "acr_values", "ui_locales", "code_challenge", "code_challenge_method",
    "response_mode", "display", "claims_locales",
)
MAX_PARAMETER_LENGTH = 2000
# OIDC Core §3.1.2.1: max_age is a non-negative integer of seconds. ASCII digits only: str.isdigit()
# also accepts "²" or "٣", which int() then refuses; ten digits is over 300 years.
MAX_AGE = re.compile(r"[0-9]{1,10}")

Step = Literal["login", "consent", "issue", "login_required", "consent_required", "invalid_max_age"]


@dataclass(frozen=True)
class Situation:
    """What the decision needs to know, as plain values."""

    prompts: frozenset[str]
    max_age: str | None
    signed_in: bool
    auth_time: datetime | None
    pending_since: datetime
    now: datetime
    hint_matches: bool  # id_token_hint names the signed-in person (True when there is no hint)
    needs_consent: bool


def decide(s: Situation) -> Step:
    """The next step of an authorization request. Pure: values in, a step out."""
    silent = "none" in s.prompts
    if s.max_age is not None and not MAX_AGE.fullmatch(s.max_age):
        return "invalid_max_age"
    if not s.signed_in or s.auth_time is None:
        return "login_required" if silent else "login"
    fresh = s.auth_time >= s.pending_since
    too_old = s.max_age is not None and (s.now - s.auth_time).total_seconds() > int(s.max_age)
    if not fresh and ("login" in s.prompts or too_old or not s.hint_matches):
        return "login_required" if silent else "login"
    if s.needs_consent or ("consent" in s.prompts and not silent):
        return "consent_required" if silent else "consent"
    return "issue"


def kept_parameters(values: dict[str, str], scope: str) -> dict[str, str]:
    params = {k: v[:MAX_PARAMETER_LENGTH] for k, v in values.items() if k in KEPT_PARAMETERS and isinstance(v, str)}
    params["scope"] = scope
    return params


def save_pending(tenant: Tenant, client_id: str, params: dict[str, str], issuer: str) -> AuthorizationRequest:
    now = clock.now()
    db.session.execute(
        delete(AuthorizationRequest).where(AuthorizationRequest.tenant_id == tenant.id,
                                           AuthorizationRequest.expires_at < now)
    )
    pending = AuthorizationRequest(
        tenant_id=tenant.id, client_id=client_id, params_json=json.dumps(params), issuer=issuer,
        created_at=now, expires_at=now + PENDING_LIFETIME,
    )
    db.session.add(pending)
    db.session.flush()
    return pending


def load_pending(tenant: Tenant, request_id: str) -> AuthorizationRequest | None:
    """The pending request `request_id` of `tenant`, unexpired; read once per request however many
    parts of it ask (db.remembered)."""
    if not request_id or len(request_id) > 64:
        return None
    pending = remembered(_pending_key(tenant.id, request_id), lambda: db.session.execute(
        select(AuthorizationRequest).where(
            AuthorizationRequest.tenant_id == tenant.id, AuthorizationRequest.id == request_id
        )
    ).scalar_one_or_none())
    if pending is None or pending.expires_at <= clock.now():
        return None
    return pending


def mark_selected(pending: AuthorizationRequest) -> None:
    """The person answered the account picker for this request (prompt=select_account)."""
    pending.selected_at = clock.now()


def finish_pending(pending: AuthorizationRequest) -> None:
    db.session.delete(pending)
    forget(_pending_key(pending.tenant_id, pending.id))


def _pending_key(tenant_id: str, request_id: str) -> tuple[str, str, str]:
    """The pending request's key in this request's memory (db.remembered)."""
    return ("pending-request", tenant_id, request_id)


def has_consent(tenant: Tenant, user_id: str, client_pk: str, scope: str) -> bool:
    row = _consent(tenant, user_id, client_pk)
    return row is not None and set(scope.split()) <= set(row.scope.split())


def record_consent(tenant: Tenant, user_id: str, client_pk: str, scope: str) -> None:
    row = _consent(tenant, user_id, client_pk)
    if row is None:
        db.session.add(Consent(tenant_id=tenant.id, user_id=user_id, client_pk=client_pk, scope=scope,
                               granted_at=clock.now()))
    else:
        row.scope = " ".join(dict.fromkeys(row.scope.split() + scope.split()))
        row.granted_at = clock.now()


def _consent(tenant: Tenant, user_id: str, client_pk: str) -> Consent | None:
    return db.session.execute(
        select(Consent).where(Consent.tenant_id == tenant.id, Consent.user_id == user_id,
                              Consent.client_pk == client_pk)
    ).scalar_one_or_none()
