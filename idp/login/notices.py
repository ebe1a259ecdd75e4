"""The pipeline step "notices": things to know that do not block, on one page, once per sign-in.

- the person's email address is not verified (with a button that mails a verification link);
- business or location details the tenant needs are missing, listed by name — told only to staff
  who may edit settings, since nobody else can fix them.

"Continue" records on the session that the page was seen; a new sign-in shows it again if the
notices still apply.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from flask import url_for

from idp.accounts.landing import may_edit_settings
from idp.accounts.models import User
from idp.business.service import MissingDetail, missing_details
from idp.tenancy.models import Tenant

if TYPE_CHECKING:
    from idp.oauth.interactions import Context


@dataclass(frozen=True)
class Notices:
    unverified_email: bool = False
    shared_email: bool = False  # an imported account whose address another account holds
    missing: list[MissingDetail] = field(default_factory=list)

    def __bool__(self) -> bool:
        return self.unverified_email or self.shared_email or bool(self.missing)


def notices_for(tenant: Tenant, user: User) -> Notices:
    return Notices(
        unverified_email=user.email_normalized is not None and not user.email_verified,
        shared_email=user.email_normalized is None,
        missing=missing_details(tenant) if may_edit_settings(user) else [],
    )


class NoticesStep:
    name = "notices"
    blocking = False

    def needed(self, ctx: Context) -> bool:
        return ctx.session.notices_seen_at is None and bool(notices_for(ctx.tenant, ctx.user))

    def url(self, ctx: Context) -> str:
        return url_for("notices.show", request=ctx.request_id)
