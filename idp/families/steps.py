"""The sign-in steps families add, and the `family` claim's answers for idp.oauth.claims.

- "adult": a secondary member confirms once being 18 or older (declining signs them out).
- "family": a person in several families picks one (at each new sign-in, and whenever the app
  sends prompt=select_account); their last choice is preselected.
- "family-blocked": the chosen family's primary guardian has not accepted the family policies,
  so its secondary members cannot go on with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import url_for

from idp.accounts.models import User
from idp.families import service
from idp.sessions.models import BrowserSession
from idp.tenancy.models import Tenant

if TYPE_CHECKING:
    from idp.oauth.interactions import Context


class AdultStep:
    name = "adult"
    blocking = True

    def needed(self, ctx: Context) -> bool:
        return (ctx.user.pool == "customer" and service.is_secondary_anywhere(ctx.tenant, ctx.user)
                and not service.has_confirmed_adult(ctx.tenant, ctx.user))

    def url(self, ctx: Context) -> str:
        return url_for("families.adult", request=ctx.request_id)


class FamilyChoiceStep:
    name = "family"
    blocking = True

    def needed(self, ctx: Context) -> bool:
        if ctx.user.pool != "customer":
            return False
        found = service.memberships(ctx.tenant, ctx.user)
        if len(found) < 2:
            return False  # nothing to pick: the only family (or none) is the one
        if "select_account" in ctx.prompts and not ctx.selected:
            return True
        return all(m.family.id != ctx.session.family_id for m in found)

    def url(self, ctx: Context) -> str:
        return url_for("families.choose", request=ctx.request_id)


class FamilyBlockedStep:
    name = "family-blocked"
    blocking = True

    def needed(self, ctx: Context) -> bool:
        if ctx.user.pool != "customer":
            return False
        chosen = service.current(ctx.tenant, ctx.user, ctx.session)
        return chosen is not None and service.blocked(ctx.tenant, chosen)

    def url(self, ctx: Context) -> str:
        return url_for("families.blocked", request=ctx.request_id)


class FamilyClaims:
    """idp.oauth.claims.FamilyClaims: which family a new grant is for, and its claim now."""

    def chosen(self, tenant: Tenant, user: User, session: BrowserSession) -> str | None:
        chosen = service.current(tenant, user, session)
        return chosen.family.id if chosen is not None else None

    def claim(self, tenant: Tenant, user_id: str, family_id: str) -> dict[str, str] | None:
        found = service.membership(tenant, user_id, family_id)
        return found.claim() if found is not None else None
