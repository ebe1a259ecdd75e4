"""Admin API endpoints. Thin: authenticate, read JSON, call a service, answer JSON."""

from __future__ import annotations

from flask import Blueprint, jsonify
from werkzeug.wrappers import Response

from idp.api.auth import require_scope
from idp.errors import InvalidInput, NotFound
from idp.tenancy.context import current_tenant, require_tenant
from idp.web.csrf import csrf_exempt
from idp.web.errors import answers_json
from idp.web.inputs import json_object

bp = answers_json(Blueprint("api", __name__, url_prefix="/api/v1"))
bp.before_request(require_tenant)


@bp.after_request
def never_stored(response: Response) -> Response:
    """Every answer is about people or the business behind them: no cache may keep it."""
    response.headers["Cache-Control"] = "no-store"
    return response

MAX_EMAIL_FIELD = 320


@bp.post("/users/password-reset")
@csrf_exempt  # bearer-token authenticated
@require_scope("users:write", "families:write")
def send_password_reset() -> Response:
    """Staff-sent reset (the Office Portal's per-email "Reset Password"): mail a reset link to
    the person with this email.

    The caller holds `users:write` at this tenant, so "no such person" is a plain 404.
    """
    from idp.recovery.service import staff_sent_reset

    body = json_object()
    email = body.get("email") if body else None
    pool = body.get("pool", "staff") if body else "staff"
    if not isinstance(email, str) or not email.strip() or len(email) > MAX_EMAIL_FIELD:
        raise InvalidInput("Send a JSON object with an 'email' string.")
    if pool not in ("staff", "customer"):
        raise InvalidInput("'pool' must be 'staff' or 'customer'.")
    sent = staff_sent_reset(current_tenant(), email, pool=pool)
    if not sent:
        raise NotFound("No account of this pool has that email address.")
    response = jsonify({"status": "sent"})
    response.status_code = 202
    return response


from idp.api import audit, connections, families, openapi, people  # noqa: E402,F401 - register their routes on `bp`
