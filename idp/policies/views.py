"""The page that shows updated policies: accept (with the newsletter choice) or decline and log out."""

from __future__ import annotations

from flask import Blueprint, redirect, request, url_for
from flask.typing import ResponseReturnValue

from idp.login.current import continue_url, pending_request_id, step_context
from idp.oauth.interactions import Context
from idp.oauth.logout import sign_out
from idp.oauth.views import deny_pending_request
from idp.policies import service
from idp.policies.step import PoliciesStep
from idp.sessions.web import clear_session_cookie
from idp.tenancy.context import current_route, require_tenant
from idp.web import csrf
from idp.web.errors import show_errors_on
from idp.web.pages import render_page

bp = Blueprint("policies", __name__)
bp.before_request(require_tenant)

MAX_DOCUMENTS = 10
STEP = PoliciesStep()


@bp.get("/policies")
def review() -> ResponseReturnValue:
    request_id = pending_request_id(request.args)
    ctx = step_context(STEP, request_id)
    if not service.outdated_for(ctx.tenant, ctx.user):
        return redirect(continue_url(request_id))
    return _page(ctx)


@bp.post("/policies/accept")
def accept() -> ResponseReturnValue:
    request_id = pending_request_id(request.form)
    ctx = step_context(STEP, request_id)
    document_ids = [value[:64] for value in request.form.getlist("document")[:MAX_DOCUMENTS]]
    show_errors_on(_page, ctx)
    try:
        service.accept(ctx.tenant, ctx.user, document_ids, ip=request.remote_addr or "",
                       newsletter=request.form.get("newsletter") == "on")
    except service.StaleDocuments:
        if not service.outdated_for(ctx.tenant, ctx.user):
            return redirect(continue_url(request_id), code=303)  # already accepted: a repeated form
        raise
    return redirect(continue_url(request_id), code=303)


@bp.post("/policies/decline")
def decline() -> ResponseReturnValue:
    """Declining ends the session: nobody uses the service without accepting its terms. An app
    that was waiting hears `access_denied`; otherwise the person sees "you are signed out"."""
    ctx = step_context(STEP, pending_request_id(request.form))
    service.record_declined(ctx.tenant, ctx.user, service.outdated_for(ctx.tenant, ctx.user),
                            request.remote_addr or "")
    response = deny_pending_request(ctx.request_id) or redirect(url_for("login.signed_out"), code=303)
    sign_out(ctx.tenant, ctx.session, ctx.user)
    clear_session_cookie(response, current_route())
    csrf.rotate()
    return response


def _page(ctx: Context, status: int = 200, alert: str | None = None) -> ResponseReturnValue:
    documents = service.outdated_for(ctx.tenant, ctx.user)
    previous = service.accepted_versions(ctx.tenant, ctx.user)
    offer_newsletter = bool(ctx.user.email) and not ctx.user.newsletter
    return render_page("policies/review.html", status=status, documents=documents, previous=previous,
                       offer_newsletter=offer_newsletter, request_id=ctx.request_id, alert=alert, user=ctx.user)
