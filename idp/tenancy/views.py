"""The platform root: "Type in your account name", and a way to every tenant's sign-in page."""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, g, jsonify, redirect, request, url_for
from flask.typing import ResponseReturnValue

from idp.readiness import not_ready_because
from idp.tenancy.context import UnknownAccount
from idp.tenancy.names import looks_like_account_name
from idp.tenancy.service import find_tenant
from idp.web.pages import form_value, render_page

bp = Blueprint("tenancy", __name__)


@bp.get("/")
def root() -> ResponseReturnValue:
    if g.tenant is not None:
        return redirect(url_for("login.sign_in_form"))
    return render_page("tenancy/platform.html")


@bp.get("/lookup")
def lookup() -> ResponseReturnValue:
    """A GET form: finding a tenant changes nothing."""
    if g.tenant is not None:
        abort(404)
    account = form_value(request.args, "account", 64).lower()
    if not account:
        return render_page("tenancy/platform.html", status=400, error="Type in your account name.")
    if not looks_like_account_name(account) or find_tenant(account) is None:
        raise UnknownAccount(account)
    return redirect(f"{current_app.config['IDP'].public_url}/a/{account}/login")


@bp.get("/healthz")
def health() -> tuple[str, int, dict[str, str]]:
    """The process answers (a load balancer's liveness check); nothing else is looked at."""
    return "ok\n", 200, {"Content-Type": "text/plain"}


@bp.get("/readyz")
def ready() -> tuple[Response, int]:
    """Ready for traffic: the database answers and its schema is at this code's head. A 503 says
    why in JSON, so an operator reading the load balancer's probe log knows what to fix."""
    reasons = not_ready_because()
    if reasons:
        return jsonify({"status": "not ready", "reasons": reasons}), 503
    return jsonify({"status": "ready"}), 200
