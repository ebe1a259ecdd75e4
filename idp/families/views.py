"""Family pages: the guardian's family page, invitation links, and the sign-in steps' pages
(18+ confirmation, the family switcher, "this family is blocked"). Thin: read, call, respond.

Every form is a POST under the CSRF check; opening an invitation link (GET) changes nothing,
so mail scanners cannot use it up, and it works in any browser with no earlier cookie.
"""

from __future__ import annotations

import logging

from flask import Blueprint, g, make_response, redirect, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.wrappers import Response

from idp.accounts.emails import MAX_EMAIL_LENGTH
from idp.accounts.passwords import MAX_PASSWORD_LENGTH
from idp.accounts.service import find_user_by_sub
from idp.errors import InvalidInput
from idp.families import service
from idp.families.models import Family
from idp.families.steps import AdultStep, FamilyBlockedStep, FamilyChoiceStep
from idp.login.current import context_for, continue_url, pending_request_id, sign_in_url, step_context
from idp.login.service import sign_in_with_password
from idp.oauth import interactions as pipeline
from idp.oauth.authorize import load_pending, mark_selected
from idp.oauth.logout import sign_out
from idp.oauth.views import deny_pending_request
from idp.sessions.web import clear_session_cookie, set_session_cookie
from idp.tenancy.context import current_route, current_tenant, require_tenant
from idp.web import csrf
from idp.web.errors import show_errors_on
from idp.web.pages import form_value, render_page

log = logging.getLogger(__name__)
bp = Blueprint("families", __name__)
bp.before_request(require_tenant)

ADULT = AdultStep()
CHOICE = FamilyChoiceStep()
BLOCKED = FamilyBlockedStep()
MAX_NAME_FIELD = 200
INVITATION_STATUS_CODES = {"accepted": 410, "cancelled": 410, "expired": 410, "invalid": 404}


# -- the guardian's family page ----------------------------------------------------------------

@bp.get("/account/family")
def account() -> ResponseReturnValue:
    guardian = _guardian()
    if isinstance(guardian, Response):
        return guardian
    return _account_page(form={}, errors={})


@bp.post("/account/family/invitations")
def invite() -> ResponseReturnValue:
    guardian = _guardian()
    if isinstance(guardian, Response):
        return guardian
    email = form_value(request.form, "email", MAX_EMAIL_LENGTH + 1)
    form = {"email": email[:MAX_EMAIL_LENGTH]}
    family = service.family_of_primary(current_tenant(), g.user.id)
    if family is None:
        raise service.NotPrimary()
    show_errors_on(_account_page, form=form, errors={})
    try:
        service.invite(current_tenant(), family, g.user, email, request.remote_addr or "")
    except InvalidInput as exc:
        return _account_page(form=form, errors={"email": str(exc)}, status=400)
    return redirect(url_for("families.account", invited=1), code=303)


@bp.post("/account/family/invitations/<invitation_id>/cancel")
def cancel_invitation(invitation_id: str) -> ResponseReturnValue:
    guardian = _guardian()
    if isinstance(guardian, Response):
        return guardian
    show_errors_on(_account_page, form={}, errors={})
    service.cancel_invitation(current_tenant(), _led_family(), g.user, invitation_id)
    return redirect(url_for("families.account"), code=303)


@bp.post("/account/family/members/<sub>/remove")
def remove_member(sub: str) -> ResponseReturnValue:
    guardian = _guardian()
    if isinstance(guardian, Response):
        return guardian
    tenant = current_tenant()
    show_errors_on(_account_page, form={}, errors={})
    family = _led_family()
    member = find_user_by_sub(tenant, sub)
    if member is None:
        raise service.FamilyError("That person is not a member of your family.")
    service.revoke(tenant, family, member, actor="primary")
    return redirect(url_for("families.account"), code=303)


def _guardian() -> Response | None:
    """A signed-in customer past every blocking sign-in step may use the page; anyone else is
    sent to sign in (as a customer) or to the step still due."""
    ctx = context_for(None)
    if ctx is None or ctx.user.pool != "customer":
        return redirect(sign_in_url(None, "customer"), code=303 if request.method == "POST" else 302)
    step_url = pipeline.next_step_url(ctx, blocking_only=True)
    if step_url is not None:
        return redirect(step_url, code=303 if request.method == "POST" else 302)
    return None


def _led_family() -> Family:
    family = service.family_of_primary(current_tenant(), g.user.id)
    if family is None:
        raise service.NotPrimary()
    return family


def _account_page(*, form: dict[str, str], errors: dict[str, str], status: int = 200,
                  alert: str | None = None) -> ResponseReturnValue:
    tenant = current_tenant()
    led = service.family_of_primary(tenant, g.user.id)
    joined = [m for m in service.memberships(tenant, g.user) if m.role == service.SECONDARY]
    details = service.describe(tenant, led) if led is not None else None
    return render_page("families/account.html", status=status, user=g.user, family=details, joined=joined,
                       form=form, errors=errors, alert=alert, invited=request.args.get("invited") == "1")


# -- invitation links --------------------------------------------------------------------------

@bp.get("/family/invitation/<token>")
def invitation(token: str) -> ResponseReturnValue:
    check = service.check_invitation(current_tenant(), token)
    if check.status != "pending":
        return _invitation_problem(check.status)
    return _invitation_page(check, errors={})


@bp.post("/family/invitation/<token>")
def accept_invitation(token: str) -> ResponseReturnValue:
    tenant = current_tenant()
    check = service.check_invitation(tenant, token)
    if check.status != "pending":
        return _invitation_problem(check.status)
    assert check.invitation is not None and check.family is not None
    show_errors_on(_invitation_page, check, errors={})
    try:
        if _signed_in_as_invitee(check):
            service.accept_as(tenant, token, g.user)
            return _joined(check)
        if check.existing is not None:
            return _sign_in_and_accept(token, check)
        name = form_value(request.form, "name", MAX_NAME_FIELD + 1)
        password = request.form.get("password", default="")
        if not password or len(password) > MAX_PASSWORD_LENGTH:
            raise InvalidInput(f"Choose a password of 12 to {MAX_PASSWORD_LENGTH} characters.")
        service.accept_with_new_account(tenant, token, name=name, password=password,
                                        confirm=request.form.get("confirm_password", default=""))
    except service.InvitationUnusable as exc:
        return _invitation_problem(exc.link_status)
    except InvalidInput as exc:
        return _invitation_page(check, errors={"password": str(exc)}, status=400)
    return _joined(check, signed_in=False)


def _sign_in_and_accept(token: str, check: service.InvitationCheck) -> ResponseReturnValue:
    """An existing customer proves it is them with their password (throttled like sign-in),
    which also signs them in here."""
    assert check.invitation is not None
    tenant = current_tenant()
    _, started = sign_in_with_password(
        tenant, identifier=check.invitation.email, password=request.form.get("password", default=""),
        persistent=False, ip=request.remote_addr or "", pool="customer", previous=g.browser_session,
    )
    user = check.existing
    assert user is not None
    service.accept_as(tenant, token, user)
    response = _joined(check)
    set_session_cookie(response, started, current_route())
    csrf.rotate()
    return response


def _signed_in_as_invitee(check: service.InvitationCheck) -> bool:
    user = g.get("user")
    return (user is not None and check.invitation is not None and user.pool == "customer"
            and user.email_normalized == check.invitation.email_normalized)


def _joined(check: service.InvitationCheck, signed_in: bool = True) -> Response:
    assert check.family is not None
    return make_response(render_page("families/joined.html", family=check.family, signed_in=signed_in))


def _invitation_page(check: service.InvitationCheck, *, errors: dict[str, str], status: int = 200,
                     alert: str | None = None) -> ResponseReturnValue:
    assert check.invitation is not None and check.family is not None
    mode = "signed_in" if _signed_in_as_invitee(check) else "existing" if check.existing is not None else "new"
    other = g.get("user") if mode != "signed_in" else None
    return render_page("families/invitation.html", status=status, invitation=check.invitation, family=check.family,
                       mode=mode, signed_in_as=other, errors=errors, alert=alert)


def _invitation_problem(status: str) -> ResponseReturnValue:
    return render_page("families/invitation_problem.html", status=INVITATION_STATUS_CODES.get(status, 404),
                       problem=status)


# -- sign-in steps -----------------------------------------------------------------------------

@bp.get("/family/adult")
def adult() -> ResponseReturnValue:
    request_id = pending_request_id(request.args)
    ctx = step_context(ADULT, request_id)
    if not ADULT.needed(ctx):
        return redirect(continue_url(request_id))
    return render_page("families/adult.html", request_id=request_id, user=ctx.user)


@bp.post("/family/adult")
def confirm_adult() -> ResponseReturnValue:
    request_id = pending_request_id(request.form)
    ctx = step_context(ADULT, request_id)
    if request.form.get("adult") != "yes":
        return render_page("families/adult.html", status=400, request_id=request_id, user=ctx.user,
                           alert="Tick the box to confirm you are 18 or older, or decline.")
    service.confirm_adult(ctx.tenant, ctx.user, request.remote_addr or "")
    return redirect(continue_url(request_id), code=303)


@bp.post("/family/adult/decline")
def decline_adult() -> ResponseReturnValue:
    """Nobody under 18 uses a family's account: declining signs the person out."""
    ctx = step_context(ADULT, pending_request_id(request.form))
    service.record_adult_declined(ctx.tenant, ctx.user, request.remote_addr or "")
    return _signed_out(ctx)


@bp.get("/family/choose")
def choose() -> ResponseReturnValue:
    request_id = pending_request_id(request.args)
    ctx = step_context(CHOICE, request_id)
    found = service.memberships(ctx.tenant, ctx.user)
    if len(found) < 2:
        return redirect(continue_url(request_id))
    return _choice_page(ctx, found)


@bp.post("/family/choose")
def choose_submit() -> ResponseReturnValue:
    request_id = pending_request_id(request.form)
    ctx = step_context(CHOICE, request_id)
    family_id = form_value(request.form, "family", 32)
    show_errors_on(_choice_page, ctx, service.memberships(ctx.tenant, ctx.user))
    service.choose(ctx.tenant, ctx.user, ctx.session, family_id)
    pending = load_pending(ctx.tenant, request_id) if request_id else None
    if pending is not None:
        mark_selected(pending)
    return redirect(continue_url(request_id), code=303)


def _choice_page(ctx: pipeline.Context, found: list[service.Membership], status: int = 200,
                 alert: str | None = None) -> ResponseReturnValue:
    preselected = ctx.session.family_id or service.last_choice(ctx.tenant, ctx.user)
    if all(m.family.id != preselected for m in found):
        preselected = found[0].family.id
    return render_page("families/choose.html", status=status, memberships=found, preselected=preselected,
                       request_id=ctx.request_id, user=ctx.user, alert=alert,
                       blocked={m.family.id for m in found if service.blocked(ctx.tenant, m)})


@bp.get("/family/blocked")
def blocked() -> ResponseReturnValue:
    request_id = pending_request_id(request.args)
    ctx = step_context(BLOCKED, request_id)
    chosen = service.current(ctx.tenant, ctx.user, ctx.session)
    if chosen is None or not service.blocked(ctx.tenant, chosen):
        return redirect(continue_url(request_id))
    log.info("family %s is blocked for a secondary member until its primary accepts the family policies",
             chosen.family.id)
    return render_page("families/blocked.html", status=403, family=chosen.family, request_id=request_id,
                       others=len(service.memberships(ctx.tenant, ctx.user)) > 1, user=ctx.user)


@bp.post("/family/sign-out")
def leave() -> ResponseReturnValue:
    """"Sign out" from the blocked page: an app that was waiting hears `access_denied`."""
    ctx = context_for(pending_request_id(request.form))
    if ctx is None:
        return redirect(url_for("login.signed_out"), code=303)
    return _signed_out(ctx)


def _signed_out(ctx: pipeline.Context) -> Response:
    response = deny_pending_request(ctx.request_id) or redirect(url_for("login.signed_out"), code=303)
    sign_out(ctx.tenant, ctx.session, ctx.user)
    clear_session_cookie(response, current_route())
    csrf.rotate()
    return response

