"""The pipeline step "policies": a newer Terms & Conditions or Privacy Policy blocks until accepted."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import url_for

from idp.policies.service import outdated_for

if TYPE_CHECKING:
    from idp.oauth.interactions import Context


class PoliciesStep:
    name = "policies"
    blocking = True

    def needed(self, ctx: Context) -> bool:
        return bool(outdated_for(ctx.tenant, ctx.user))

    def url(self, ctx: Context) -> str:
        return url_for("policies.review", request=ctx.request_id)
