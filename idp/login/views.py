"""The tenant's sign-in (staff, or customers when the app serves them), signed-in and sign-out pages."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, redirect, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.wrappers import Response

from idp.accounts.emails import MAX_EMAIL_LENGTH
from idp.accounts.passwords import MAX_PASSWORD_LENGTH
from idp.federation.connections import connection_for_email, connections_of
from idp.federation.views import departure
from idp.login.current import (
    context_for,
    continue_url,
    login_hint_for,
    pending_request_id,
    pool_for,
    sign_in_url,
)
from idp.login.portal import default_portal_url
from idp.login.service import sign_in_with_password
from idp.oauth import interactions as pipeline
from idp.oauth.logout import sign_out as end_signed_in_session
from idp.oauth.views import continue_after_sign_in
from idp.sessions.web import clear_session_cookie, set_session_cookie
from idp.tenancy.context import current_route, current_tenant, require_tenant
from idp.web import csrf
from idp.web.errors import show_errors_on
from idp.web.pages import form_value, render_page

bp = Blueprint("login", __name__)
bp.before_request(require_tenant)


@bp.get("/continue")
def continue_sign_in() -> ResponseReturnValue:
    """After each step of the sign-in pipeline: the next step, else back to the app (or landing)."""
    request_id = pending_request_id(request.args)
    ctx = context_for(request_id)
    if ctx is None:
        return redirect(sign_in_url(request_id, pool_for(request_id, request.args)))
    step_url = pipeline.next_step_url(ctx)
    if step_url is not None:
        return redirect(step_url)
    if request_id:
        return redirect(url_for("oauth.continue_authorization", request_id=request_id))
    # Signed in at the tenant's own URL: on to its default portal, else "you are signed in".
    return redirect(default_portal_url(current_tenant(), g.user) or url_for("login.signed_in"))


@bp.get("/login")
def sign_in_form() -> ResponseReturnValue:
    request_id = pending_request_id(request.args)
    if g.user is not None and request_id is None:
        return redirect(url_for("login.signed_in"))
    # With a pending request the form shows even when signed in: the app asked for a fresh sign-in.
    form = {"email": login_hint_for(request_id, MAX_EMAIL_LENGTH)}
    return _sign_in_page(form=form, errors={}, request_id=request_id, pool=pool_for(request_id, request.args))


@bp.post("/login")
def sign_in() -> ResponseReturnValue:
    tenant = current_tenant()
    identifier = form_value(request.form, "email", MAX_EMAIL_LENGTH + 1)
    password = request.form.get("password", default="")
    persistent = request.form.get("stay_logged_in") == "on"
    errors = {}
    if not identifier:
        errors["email"] = "Enter your email address or username."
    elif len(identifier) > MAX_EMAIL_LENGTH:
        errors["email"] = "That is longer than any email address we accept."
    if not password:
        errors["password"] = "Enter your password."  # noqa: S105 - a message
    elif len(password) > MAX_PASSWORD_LENGTH:
        errors["password"] = f"Passwords are at most {MAX_PASSWORD_LENGTH} characters."
    form = {"email": identifier[:MAX_EMAIL_LENGTH], "stay_logged_in": persistent}
    request_id = pending_request_id(request.form)
    pool = pool_for(request_id, request.form)
    sso = connection_for_email(tenant, identifier, pool) if "@" in identifier and "email" not in errors else None
    if sso is not None and (sso.sso_required or not password):
        # Email-first: this domain signs in at its organization (always, when SSO is required;
        # then the password typed is never checked).
        return departure(sso, request_id=request_id, persistent=persistent, login_hint=identifier)
    if errors:
        return _sign_in_page(status=400, form=form, errors=errors, request_id=request_id, pool=pool)
    show_errors_on(_sign_in_page, form=form, errors={}, request_id=request_id, pool=pool)
    user, started = sign_in_with_password(
        tenant, identifier=identifier, password=password, persistent=persistent,
        ip=request.remote_addr or "", pool=pool, previous=g.browser_session,
    )
    if request_id:  # the app's request goes on at once: its code, or the pipeline's next page
        response = continue_after_sign_in(request_id, user, started.session)
    else:
        response = redirect(continue_url(request_id), code=303)
    set_session_cookie(response, started, current_route())
    csrf.rotate()
    return response


def _sign_in_page(*, pool: str, **context: Any) -> ResponseReturnValue:
    """The form, with a "Continue with NAME" button for each connection of the pool."""
    return render_page("login/sign_in.html", connections=connections_of(current_tenant(), pool), pool=pool, **context)


@bp.get("/signed-in")
def signed_in() -> ResponseReturnValue:
    ctx = context_for(None)
    if ctx is None:
        return redirect(sign_in_url(None, pool_for(None, request.args)))
    step_url = pipeline.next_step_url(ctx, blocking_only=True)
    if step_url is not None:  # typed in mid-pipeline: a second factor or the terms come first
        return redirect(step_url)
    return render_page("login/signed_in.html", user=g.user, session=g.browser_session)


@bp.get("/logout")
def sign_out_form() -> ResponseReturnValue:
    """GET never changes state: it asks, and the button POSTs."""
    if g.user is None:
        return render_page("login/signed_out.html")
    return render_page("login/sign_out.html", user=g.user)


@bp.post("/logout")
def sign_out() -> Response:
    if g.browser_session is not None:
        end_signed_in_session(current_tenant(), g.browser_session, g.user)
    response = redirect(url_for("login.signed_out"), code=303)
    clear_session_cookie(response, current_route())
    csrf.rotate()
    return response


@bp.get("/signed-out")
def signed_out() -> ResponseReturnValue:
    return render_page("login/signed_out.html")
