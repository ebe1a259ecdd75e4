"""Admin API endpoints. Thin: authenticate, read JSON, call a service, answer JSON."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from werkzeug.wrappers import Response

from idp.api.auth import api_error, require_scope
from idp.tenancy.context import current_tenant, require_tenant
from idp.web.csrf import csrf_exempt
from idp.web.errors import answers_json

bp = answers_json(Blueprint("api", __name__, url_prefix="/api/v1"))
bp.before_request(require_tenant)

MAX_EMAIL_FIELD = 320


def json_body() -> dict[str, Any] | None:
    if request.mimetype != "application/json":
        return None
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else None


@bp.post("/users/password-reset")
@csrf_exempt  # bearer-token authenticated
@require_scope("users:write")
def send_password_reset() -> Response:
    """Staff-sent reset (issue #4): mail a reset link to the person with this email.

    The caller holds `users:write` at this tenant, so "no such person" is a plain 404.
    """
    from idp.accounts.emails import InvalidEmail
    from idp.accounts.recovery import staff_sent_reset
    from idp.login.throttle import Throttled

    body = json_body()
    email = body.get("email") if body else None
    pool = body.get("pool", "staff") if body else "staff"
    if not isinstance(email, str) or not email.strip() or len(email) > MAX_EMAIL_FIELD:
        return api_error(400, "invalid_request", "Send a JSON object with an 'email' string.")
    if pool not in ("staff", "customer"):
        return api_error(400, "invalid_request", "'pool' must be 'staff' or 'customer'.")
    try:
        sent = staff_sent_reset(current_tenant(), email, pool=pool)
    except InvalidEmail as exc:
        return api_error(400, "invalid_request", str(exc))
    except Throttled as exc:
        response = api_error(429, "slow_down", "A link was sent to this address recently; try again later.")
        response.headers["Retry-After"] = str(exc.seconds)
        return response
    if not sent:
        return api_error(404, "not_found", "No account of this pool has that email address.")
    response = jsonify({"status": "sent"})
    response.status_code = 202
    return response


from idp.api import people  # noqa: E402,F401 - registers its routes on `bp`
