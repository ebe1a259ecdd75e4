"""Emailed account links: 256-bit random tokens, stored hashed, single use, bound to a purpose,
a tenant, a user and the address they were mailed to, and expiring (docs/architecture.md §Email).

Looking a link up (`check_link`) never changes anything: mail scanners and link previews open
every link, so only `consume_link`, behind a button's POST, uses one up.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app, g, has_request_context
from sqlalchemy import select, update

from idp import clock
from idp.accounts.link_models import INVITATION, RESET_PASSWORD, VERIFY_EMAIL, AccountLink
from idp.accounts.models import User
from idp.accounts.service import get_user
from idp.crypto import keyring, random_token
from idp.db import db
from idp.tenancy.issuers import path_issuer
from idp.tenancy.models import Tenant

TOKEN_BYTES = 32  # 256 bits
MAX_TOKEN_LENGTH = 64  # base64url of 32 bytes is 43; anything much longer is not ours
LINK_PATHS = {VERIFY_EMAIL: "verify-email", RESET_PASSWORD: "reset-password", INVITATION: "set-password"}


class LinkStatus(enum.Enum):
    VALID = "valid"
    USED = "used"
    EXPIRED = "expired"
    INVALID = "invalid"  # unknown, another tenant's, another purpose's, or for an address since changed


@dataclass(frozen=True)
class LinkCheck:
    status: LinkStatus
    link: AccountLink | None = None
    user: User | None = None


def link_status(*, purpose: str, link_purpose: str, link_email: str, user_email: str | None,
                used_at: datetime | None, expires_at: datetime, now: datetime) -> LinkStatus:
    """The state of a stored link (pure)."""
    if link_purpose != purpose or user_email != link_email:
        return LinkStatus.INVALID
    if used_at is not None:
        return LinkStatus.USED
    if now >= expires_at:
        return LinkStatus.EXPIRED
    return LinkStatus.VALID


def lifetime(tenant: Tenant, purpose: str) -> timedelta:
    seconds = {
        VERIFY_EMAIL: tenant.verify_link_seconds,
        RESET_PASSWORD: tenant.reset_link_seconds,
        INVITATION: tenant.invitation_link_seconds,
    }[purpose]
    return timedelta(seconds=seconds)


def issue_link(tenant: Tenant, user: User, purpose: str) -> str:
    """Store a new link for `user` (the unit of work commits) and return its URL."""
    if user.email_normalized is None:
        raise ValueError("an account without a unique email address gets no links")
    now = clock.now()
    token = random_token(TOKEN_BYTES)
    db.session.add(AccountLink(
        tenant_id=tenant.id, token_hash=_hash(token), purpose=purpose, user_id=user.id,
        email_normalized=user.email_normalized, created_at=now, expires_at=now + lifetime(tenant, purpose),
    ))
    return link_url(tenant, f"/{LINK_PATHS[purpose]}/{token}")


def check_link(tenant: Tenant, purpose: str, token: str) -> LinkCheck:
    """What the link is, without changing anything (safe for GET and HEAD)."""
    if not token or len(token) > MAX_TOKEN_LENGTH or not token.isascii():
        return LinkCheck(LinkStatus.INVALID)
    link = db.session.execute(
        select(AccountLink).where(AccountLink.tenant_id == tenant.id, AccountLink.token_hash == _hash(token))
    ).scalar_one_or_none()
    user = get_user(tenant, link.user_id) if link is not None else None
    if link is None or user is None:
        return LinkCheck(LinkStatus.INVALID)
    status = link_status(
        purpose=purpose, link_purpose=link.purpose, link_email=link.email_normalized,
        user_email=user.email_normalized, used_at=link.used_at, expires_at=link.expires_at, now=clock.now(),
    )
    return LinkCheck(status, link, user)


def consume_link(check: LinkCheck) -> bool:
    """Mark a VALID link used; False if a concurrent request used it first (the unit of work commits)."""
    assert check.status is LinkStatus.VALID and check.link is not None
    result = db.session.execute(
        update(AccountLink)
        .where(AccountLink.id == check.link.id, AccountLink.used_at.is_(None))
        .values(used_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount) == 1  # type: ignore[attr-defined]


def retire_links(tenant: Tenant, user: User, purposes: tuple[str, ...]) -> None:
    """Use up every outstanding link of these purposes (a newer action made them pointless)."""
    db.session.execute(
        update(AccountLink)
        .where(AccountLink.tenant_id == tenant.id, AccountLink.user_id == user.id,
               AccountLink.purpose.in_(purposes), AccountLink.used_at.is_(None))
        .values(used_at=clock.now())
        .execution_options(synchronize_session=False)
    )


def link_url(tenant: Tenant, path: str) -> str:
    """An absolute URL under the issuer this request came in on, else the tenant's path issuer."""
    route = g.get("route") if has_request_context() else None
    if route is not None and route.account == tenant.account and route.issuer:
        return f"{route.issuer}{path}"
    return f"{path_issuer(current_app.config['IDP'], tenant.account)}{path}"


def _hash(token: str) -> str:
    return keyring().hash_token(f"account-link|{token}")
