"""Pages of the second-factor step: enrol (QR code, secret, one code), recovery codes, verify."""

from __future__ import annotations

from flask import Blueprint, g, redirect, request
from flask.typing import ResponseReturnValue

from idp.login.current import context_for, continue_url, pending_request_id, sign_in_url, step_context
from idp.mfa import service
from idp.mfa.step import SecondFactorStep
from idp.oauth.interactions import Context
from idp.tenancy.context import require_tenant
from idp.web.errors import show_errors_on
from idp.web.pages import form_value, render_page

bp = Blueprint("mfa", __name__)
bp.before_request(require_tenant)

MAX_CODE_FIELD = 40
WRONG_CODE = "That code is not right, or it was already used. Check your app and enter the newest code."
STEP = SecondFactorStep()


@bp.get("/second-factor")
def second_factor() -> ResponseReturnValue:
    request_id = pending_request_id(request.args)
    ctx = step_context(STEP, request_id)
    if not STEP.needed(ctx):
        return redirect(continue_url(request_id))
    if service.has_confirmed_factor(ctx.tenant, ctx.user):
        return _verify_page(ctx, errors={})
    return _enrol_page(ctx, errors={})


@bp.get("/second-factor/setup")
def setup() -> ResponseReturnValue:
    """Optional enrolment from the signed-in page, when the tenant offers it."""
    ctx = context_for(None)
    if ctx is None:
        return redirect(sign_in_url(None))
    if service.has_confirmed_factor(ctx.tenant, ctx.user) or not service.may_enrol(ctx.tenant, ctx.user):
        return redirect(continue_url(None))
    return _enrol_page(ctx, errors={})


@bp.post("/second-factor")
def verify() -> ResponseReturnValue:
    request_id = pending_request_id(request.form)
    ctx = step_context(STEP, request_id)
    code = form_value(request.form, "code", MAX_CODE_FIELD)
    if not code:
        return _verify_page(ctx, errors={"code": "Enter the 6-digit code from your app."}, status=400)
    show_errors_on(_verify_page, ctx, errors={})
    try:
        service.verify(ctx.tenant, ctx.user, ctx.session, code, request.remote_addr or "")
    except service.NoEnrolment:
        return redirect(continue_url(request_id), code=303)
    except service.InvalidCode:
        return _verify_page(ctx, errors={"code": WRONG_CODE}, status=400)
    return redirect(continue_url(request_id), code=303)


@bp.post("/second-factor/enrol")
def confirm() -> ResponseReturnValue:
    request_id = pending_request_id(request.form)
    ctx = step_context(STEP, request_id)
    code = form_value(request.form, "code", MAX_CODE_FIELD)
    if not code:
        return _enrol_page(ctx, errors={"code": "Enter the 6-digit code your app shows."}, status=400)
    show_errors_on(_enrol_page, ctx, errors={})
    try:
        codes = service.confirm_enrolment(ctx.tenant, ctx.user, ctx.session, code, request.remote_addr or "")
    except service.NoEnrolment:
        return redirect(continue_url(request_id), code=303)
    except service.InvalidCode:
        return _enrol_page(ctx, errors={"code": WRONG_CODE}, status=400)
    # Shown once: only their hashes are stored, and this response is never cached (no-store).
    return render_page("mfa/recovery_codes.html", codes=codes, continue_url=continue_url(request_id))


def _enrol_page(ctx: Context, errors: dict[str, str], status: int = 200, alert: str | None = None
                ) -> ResponseReturnValue:
    try:
        enrolment = service.start_enrolment(ctx.tenant, ctx.user, ctx.session)
    except service.NoEnrolment:
        return redirect(continue_url(ctx.request_id))
    return render_page("mfa/enrol.html", status=status, enrolment=enrolment, errors=errors, alert=alert,
                       request_id=ctx.request_id, required=service.must_enrol(ctx.tenant, ctx.user),
                       secret_groups=_groups(enrolment.secret))


def _verify_page(ctx: Context, errors: dict[str, str], status: int = 200, alert: str | None = None
                 ) -> ResponseReturnValue:
    return render_page("mfa/verify.html", status=status, errors=errors, alert=alert, request_id=ctx.request_id,
                       user=g.user)


def _groups(secret: str) -> str:
    """The secret in groups of four, easier to type into an app by hand."""
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))
