"""Admin API about people (`/api/v1/users/<sub>`) and the tenant's business details.

    POST   /api/v1/users                        users:write  {"email", "name"?, "pool"?, "send_invitation"?}
    GET    /api/v1/users/<sub>                  users:read or users:write
    PATCH  /api/v1/users/<sub>                  users:write  {"landing_page": …, "permissions": […]}
    DELETE /api/v1/users/<sub>/second-factor    users:write  (lost phone: the person enrols again)
    GET    /api/v1/business                     business:read or business:write
    PUT    /api/v1/business                     business:write  {"legal_name": …, "email": …, …}
    PUT    /api/v1/locations/<name>             business:write  {"email": …, "phone": …, "address": …}
"""

from __future__ import annotations

from typing import Any

from flask import g, jsonify, request, url_for
from sqlalchemy.exc import IntegrityError
from werkzeug.wrappers import Response

from idp.accounts.landing import apply_staff_settings, landing_page, permitted_pages
from idp.accounts.models import User
from idp.accounts.service import find_user_by_sub
from idp.api.auth import require_scope
from idp.api.views import bp
from idp.business import service as business
from idp.errors import Conflict, InvalidInput, NotFound
from idp.mfa import service as mfa
from idp.policies.service import accepted_versions
from idp.recovery.service import invite_user
from idp.tenancy.context import current_tenant
from idp.web.csrf import csrf_exempt
from idp.web.inputs import json_object

MAX_TEXT_FIELD = 320  # longer than any email or name we accept; the service says what is wrong


NEW_PERSON_FIELDS = {"email": str, "name": str, "pool": str, "send_invitation": bool}


@bp.post("/users")
@csrf_exempt  # bearer-token authenticated
@require_scope("users:write")
def create_person() -> Response:
    """A person without a password; `send_invitation` mails them a "set your password" link.
    An address already in the pool is 409, naming the account that holds it."""
    fields = _new_person(json_object())
    if fields is None:
        raise InvalidInput("Send a JSON object with an 'email' string, and optionally "
                         "'name' (string), 'pool' ('staff' or 'customer') and 'send_invitation' (true/false).")
    try:
        user = invite_user(current_tenant(), email=fields["email"], name=fields.get("name"),
                           pool=fields.get("pool", "staff"), send_invitation=fields.get("send_invitation", False))
    except IntegrityError:  # a concurrent request took the address between our check and the insert
        raise Conflict("An account with this email address was just created.") from None
    response = jsonify({**_person(user), "invitation_sent": fields.get("send_invitation", False)})
    response.status_code = 201
    response.headers["Location"] = url_for("api.get_person", sub=user.sub)
    return response


@bp.get("/users/<sub>")
@require_scope("users:read", "users:write")
def get_person(sub: str) -> Response:
    user = _user(sub)
    if user is None:
        raise _no_such_person()
    return jsonify(_person(user))


@bp.patch("/users/<sub>")
@csrf_exempt  # bearer-token authenticated
@require_scope("users:write")
def update_person(sub: str) -> Response:
    user = _user(sub)
    if user is None:
        raise _no_such_person()
    body = json_object()
    if body is None or not set(body) <= {"landing_page", "permissions"}:
        raise InvalidInput("Send a JSON object with 'landing_page' and/or 'permissions'.")
    apply_staff_settings(user, body)
    return jsonify(_person(user))


@bp.delete("/users/<sub>/second-factor")
@csrf_exempt  # bearer-token authenticated
@require_scope("users:write")
def remove_second_factor(sub: str) -> Response:
    user = _user(sub)
    if user is None:
        raise _no_such_person()
    removed = mfa.remove_factor(current_tenant(), user, actor=f"client:{g.api_token.client_id}",
                                ip=request.remote_addr)
    if not removed:
        raise NotFound("This person has no second factor.")
    return Response(status=204)


@bp.get("/business")
@require_scope("business:read", "business:write")
def get_business() -> Response:
    return jsonify(business.details_as_dict(current_tenant()))


@bp.put("/business")
@csrf_exempt  # bearer-token authenticated
@require_scope("business:write")
def put_business() -> Response:
    body = json_object()
    if body is None:
        raise InvalidInput("Send a JSON object of business fields.")
    return _store(lambda: business.apply_business(current_tenant(), body))


@bp.put("/locations/<name>")
@csrf_exempt  # bearer-token authenticated
@require_scope("business:write")
def put_location(name: str) -> Response:
    body = json_object()
    if body is None:
        raise InvalidInput("Send a JSON object of location fields.")
    return _store(lambda: business.apply_location(current_tenant(), {**body, "name": name}))


def _store(change: Any) -> Response:
    change()
    return jsonify(business.details_as_dict(current_tenant()))


def _person(user: User) -> dict[str, Any]:
    tenant = current_tenant()
    accepted = accepted_versions(tenant, user)
    return {
        "sub": user.sub,
        "email": user.email,
        "email_verified": bool(user.email_verified),
        "name": user.name,
        "pool": user.pool,
        "newsletter": bool(user.newsletter),
        "accepted_policies": {
            kind: {"version": a.version, "accepted_at": a.accepted_at.isoformat()} for kind, a in accepted.items()
        },
        "second_factor": mfa.has_confirmed_factor(tenant, user),
        "landing_page": landing_page(user) if user.pool == "staff" else None,
        "landing_page_preference": user.landing_page,
        "permissions": list(permitted_pages(user)) if user.permissions_json is not None else None,
    }


def _new_person(body: dict[str, Any] | None) -> dict[str, Any] | None:
    """The body's fields if each has the right type and size, else None (the service checks the rest)."""
    if body is None or not set(body) <= set(NEW_PERSON_FIELDS) or "email" not in body:
        return None
    for key, value in body.items():
        if not isinstance(value, NEW_PERSON_FIELDS[key]) or (isinstance(value, str) and len(value) > MAX_TEXT_FIELD):
            return None
    return body


def _user(sub: str) -> User | None:
    return find_user_by_sub(current_tenant(), sub)


def _no_such_person() -> NotFound:
    return NotFound("No person with that sub at this tenant.")
