"""The notices page of the sign-in pipeline (see idp.login.notices): "Continue" goes on."""

from __future__ import annotations

from flask import Blueprint, redirect, request
from flask.typing import ResponseReturnValue

from idp import clock
from idp.login.current import continue_url, pending_request_id, step_context
from idp.login.notices import NoticesStep, notices_for
from idp.oauth.interactions import Context
from idp.recovery.service import send_verification
from idp.tenancy.context import require_tenant
from idp.web.errors import show_errors_on
from idp.web.pages import render_page

bp = Blueprint("notices", __name__)
bp.before_request(require_tenant)

STEP = NoticesStep()


@bp.get("/notices")
def show() -> ResponseReturnValue:
    request_id = pending_request_id(request.args)
    ctx = step_context(STEP, request_id)
    if not STEP.needed(ctx):
        return redirect(continue_url(request_id))
    return _page(ctx)


@bp.post("/notices")
def seen() -> ResponseReturnValue:
    request_id = pending_request_id(request.form)
    ctx = step_context(STEP, request_id)
    if ctx.session.notices_seen_at is None:
        ctx.session.notices_seen_at = clock.now()
    return redirect(continue_url(request_id), code=303)


@bp.post("/notices/send-verification")
def send_verification_email() -> ResponseReturnValue:
    """The notice's button: the accounts service mails the link; the person stays in the pipeline."""
    request_id = pending_request_id(request.form)
    ctx = step_context(STEP, request_id)
    show_errors_on(_page, ctx)
    sent = send_verification(ctx.tenant, ctx.user, request.remote_addr or "")
    return _page(ctx, verification_sent=sent)


def _page(ctx: Context, status: int = 200, alert: str | None = None,
          verification_sent: bool = False) -> tuple[str, int]:
    return render_page("notices/notices.html", status=status, notices=notices_for(ctx.tenant, ctx.user),
                       user=ctx.user, request_id=ctx.request_id, alert=alert, verification_sent=verification_sent)
