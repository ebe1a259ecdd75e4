"""Pages for emailed links: "Forgot password?", reset and set-password links, verification.

Opening a link (GET, HEAD) only shows a page with a button: mail scanners and link previews
fetch links, and must never use one up. The button's POST does the work. No cookie or session
from the device that asked for the link is needed; the CSRF cookie the page itself sets is
enough, so a link works in any fresh browser.
"""

from __future__ import annotations

from flask import Blueprint, g, redirect, request, url_for
from flask.typing import ResponseReturnValue

from idp.accounts.emails import MAX_EMAIL_LENGTH, InvalidEmail
from idp.accounts.link_models import INVITATION, RESET_PASSWORD, VERIFY_EMAIL
from idp.accounts.links import LinkCheck, LinkStatus, check_link
from idp.accounts.passwords import MAX_PASSWORD_LENGTH, WeakPassword
from idp.recovery.service import (
    AlreadyVerified,
    LinkUnusable,
    PasswordsDiffer,
    already_verified,
    request_password_link,
    send_new_link,
    send_verification,
    set_password_with_link,
    verify_email_with_link,
)
from idp.tenancy.context import current_tenant, require_tenant
from idp.web.errors import show_errors_on
from idp.web.pages import form_value, render_page

bp = Blueprint("recovery", __name__)
bp.before_request(require_tenant)

PURPOSE_BY_PATH = {"reset-password": RESET_PASSWORD, "set-password": INVITATION, "verify-email": VERIFY_EMAIL}
PATH_BY_PURPOSE = {purpose: path for path, purpose in PURPOSE_BY_PATH.items()}
LINK_STATUS_CODES = {LinkStatus.EXPIRED: 410, LinkStatus.USED: 410, LinkStatus.INVALID: 404}


def _pool() -> str:
    """Customers reach "Forgot password?" from their own sign-in page (`pool=customer`)."""
    return "customer" if request.values.get("pool") == "customer" else "staff"


@bp.get("/forgot-password")
def forgot_password() -> ResponseReturnValue:
    return render_page("recovery/forgot_password.html", form={}, errors={}, pool=_pool())


@bp.post("/forgot-password")
def forgot_password_submit() -> ResponseReturnValue:
    email = form_value(request.form, "email", MAX_EMAIL_LENGTH + 1)
    form = {"email": email[:MAX_EMAIL_LENGTH]}
    pool = _pool()
    show_errors_on(render_page, "recovery/forgot_password.html", form=form, errors={}, pool=pool)
    try:
        if not email:
            raise InvalidEmail("Enter the email address you sign in with.")
        request_password_link(current_tenant(), email, request.remote_addr or "", pool=pool)
    except InvalidEmail as exc:
        return render_page("recovery/forgot_password.html", status=400, form=form, errors={"email": str(exc)},
                           pool=pool)
    return render_page("recovery/link_sent.html", email=form["email"], purpose=RESET_PASSWORD)


@bp.get("/reset-password/<token>")
@bp.get("/set-password/<token>")
def password_link(token: str) -> ResponseReturnValue:
    purpose = _purpose()
    check = check_link(current_tenant(), purpose, token)
    if check.status is not LinkStatus.VALID:
        return _link_problem(purpose, token, check)
    return _password_form(purpose, token, check, errors={})


@bp.post("/reset-password/<token>")
@bp.post("/set-password/<token>")
def password_link_submit(token: str) -> ResponseReturnValue:
    purpose = _purpose()
    tenant = current_tenant()
    password = request.form.get("password", default="")
    confirm = request.form.get("confirm_password", default="")
    try:
        if not password:
            raise WeakPassword("Enter a new password.")
        if len(password) > MAX_PASSWORD_LENGTH:
            raise WeakPassword(f"Use at most {MAX_PASSWORD_LENGTH} characters.")
        set_password_with_link(tenant, purpose, token, password, confirm)
    except LinkUnusable as exc:
        return _link_problem(purpose, token, exc.check)
    except (WeakPassword, PasswordsDiffer) as exc:
        field = "confirm_password" if isinstance(exc, PasswordsDiffer) else "password"
        return _password_form(purpose, token, check_link(tenant, purpose, token), errors={field: str(exc)},
                              status=400)
    return render_page("recovery/done.html", outcome="password_set", purpose=purpose)


@bp.get("/verify-email/<token>")
def verify_link(token: str) -> ResponseReturnValue:
    check = check_link(current_tenant(), VERIFY_EMAIL, token)
    if already_verified(check):
        return render_page("recovery/done.html", outcome="already_verified", purpose=VERIFY_EMAIL)
    if check.status is not LinkStatus.VALID:
        return _link_problem(VERIFY_EMAIL, token, check)
    return render_page("recovery/verify_email.html", token=token, email=check.user.email if check.user else "")


@bp.post("/verify-email/<token>")
def verify_link_submit(token: str) -> ResponseReturnValue:
    try:
        outcome = verify_email_with_link(current_tenant(), token)
    except LinkUnusable as exc:
        return _link_problem(VERIFY_EMAIL, token, exc.check)
    result = "already_verified" if outcome.already_verified else "verified"
    return render_page("recovery/done.html", outcome=result, purpose=VERIFY_EMAIL)


@bp.post("/<any('reset-password', 'set-password', 'verify-email'):kind>/<token>/new-link")
def new_link(kind: str, token: str) -> ResponseReturnValue:
    """From an expired link's page: send a fresh link to the same account."""
    purpose = PURPOSE_BY_PATH[kind]
    tenant = current_tenant()
    show_errors_on(render_page, "recovery/link_problem.html", purpose=purpose, status_name="expired",
                   new_link_url=_new_link_url(purpose, token))
    try:
        masked = send_new_link(tenant, purpose, token, request.remote_addr or "")
    except AlreadyVerified:
        return render_page("recovery/done.html", outcome="already_verified", purpose=VERIFY_EMAIL)
    except LinkUnusable as exc:
        if exc.check.status is LinkStatus.VALID:  # nothing to renew: back to the link's own page
            return redirect(f"{request.script_root}/{kind}/{token}", code=303)
        return _link_problem(purpose, token, exc.check)
    return render_page("recovery/link_sent.html", email=masked, purpose=purpose, masked=True)


@bp.post("/verify-email")
def send_verification_email() -> ResponseReturnValue:
    """The signed-in page's "Send verification email" button."""
    if g.user is None:
        return redirect(url_for("login.sign_in_form"), code=303)
    show_errors_on(render_page, "recovery/link_sent.html", email=g.user.email, purpose=VERIFY_EMAIL)
    sent = send_verification(current_tenant(), g.user, request.remote_addr or "")
    if not sent:
        return redirect(url_for("login.signed_in"), code=303)
    return render_page("recovery/link_sent.html", email=g.user.email, purpose=VERIFY_EMAIL, signed_in=True)


def _purpose() -> str:
    """The purpose a link path stands for: a token only works at its own path."""
    rule = request.url_rule.rule if request.url_rule else ""
    return PURPOSE_BY_PATH[rule.split("/")[1]]


def _password_form(purpose: str, token: str, check: LinkCheck, errors: dict[str, str],
                   status: int = 200) -> ResponseReturnValue:
    if check.status is not LinkStatus.VALID or check.user is None:
        return _link_problem(purpose, token, check)
    return render_page("recovery/set_password.html", status=status, purpose=purpose, token=token,
                       email=check.user.email, errors=errors)


def _link_problem(purpose: str, token: str, check: LinkCheck) -> ResponseReturnValue:
    return render_page("recovery/link_problem.html", status=LINK_STATUS_CODES.get(check.status, 404),
                       purpose=purpose, status_name=check.status.value, new_link_url=_new_link_url(purpose, token))


def _new_link_url(purpose: str, token: str) -> str:
    return url_for("recovery.new_link", kind=PATH_BY_PURPOSE[purpose], token=token)
