"""The pipeline step "second factor": enrol when required, else prove possession once per session."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import url_for

from idp.mfa import service
from idp.oauth.discovery import ACR_MFA  # asking for it in acr_values is a step-up request

if TYPE_CHECKING:
    from idp.oauth.interactions import Context


class SecondFactorStep:
    name = "second-factor"
    blocking = True

    def needed(self, ctx: Context) -> bool:
        if service.session_passed_second_factor(ctx.session):
            return False
        if service.has_confirmed_factor(ctx.tenant, ctx.user):
            return True  # whoever enrolled is always asked, whatever the tenant's policy now says
        if service.must_enrol(ctx.tenant, ctx.user):
            return True
        return ACR_MFA in ctx.acr_values and service.may_enrol(ctx.tenant, ctx.user)

    def url(self, ctx: Context) -> str:
        return url_for("mfa.second_factor", request=ctx.request_id)
