"""Email addresses shared by several accounts of one pool: finding them and naming accounts.

The unique index on (tenant, pool, email_normalized) makes a shared address impossible for new
accounts. Only imports from older systems can bring one in, and they store the extra accounts
with `email_normalized` NULL (idp.accounts.legacy_import; docs/decisions/shared-imported-emails.md).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import select

from idp.accounts.emails import normalize_email
from idp.accounts.models import User
from idp.db import db
from idp.tenancy.models import Tenant


@dataclass(frozen=True)
class SharedEmail:
    pool: str
    email: str  # normalized
    users: list[User]

    def as_dict(self) -> dict[str, object]:
        return {"pool": self.pool, "email": self.email, "accounts": [account_summary(u) for u in self.users]}


def find_shared_emails(tenant: Tenant) -> list[SharedEmail]:
    """Every address that more than one account of a pool uses, compared trimmed and case-folded."""
    users = db.session.scalars(
        select(User).where(User.tenant_id == tenant.id).order_by(User.pool, User.created_at, User.id)
    )
    groups: dict[tuple[str, str], list[User]] = defaultdict(list)
    for user in users:
        groups[(user.pool, normalize_email(user.email))].append(user)
    return [SharedEmail(pool, email, members) for (pool, email), members in sorted(groups.items())
            if len(members) > 1]


def account_summary(user: User) -> dict[str, object]:
    return {
        "id": user.id, "sub": user.sub, "email": user.email, "username": user.username, "name": user.name,
        "holds_address": user.email_normalized is not None,
    }


def describe_account(user: User) -> str:
    """How an error message names an account: who it is, and its stable id."""
    who = user.name or user.username or user.email
    username = f", username {user.username}" if user.username and user.username != who else ""
    return f"'{who}' ({user.pool} account {user.sub}{username})"
