"""Admin and guardian API for families.

Staff (a portal's back end, client_credentials):
    GET    /api/v1/families/<id>                 families:read or families:write
    DELETE /api/v1/families/<id>/members/<sub>   families:write   (revoke secondary access)
    PUT    /api/v1/families/<id>/primary         families:write   {"sub"}
Staff can revoke access and change the primary guardian, but no staff endpoint grants access.

The guardian, with their own access token (scope `family`, for the family chosen at sign-in):
    GET    /api/v1/me/family
    POST   /api/v1/me/family/invitations         {"email"}   (primary only, else 403)
    DELETE /api/v1/me/family/invitations/<id>    (primary only)
    DELETE /api/v1/me/family/members/<sub>       (primary only)
"""

from __future__ import annotations

from flask import g, jsonify, request
from werkzeug.wrappers import Response

from idp.accounts.models import User
from idp.accounts.service import find_user_by_sub
from idp.api.auth import require_scope
from idp.api.views import MAX_EMAIL_FIELD, bp
from idp.errors import Forbidden, InvalidInput, NotFound
from idp.families import service
from idp.families.models import Family
from idp.oauth.tokens import AccessToken
from idp.tenancy.context import current_tenant
from idp.web.csrf import csrf_exempt
from idp.web.inputs import json_object


@bp.get("/families/<family_id>")
@require_scope("families:read", "families:write")
def get_family(family_id: str) -> Response:
    tenant = current_tenant()
    return jsonify(service.describe(tenant, service.get_family(tenant, family_id)))


@bp.delete("/families/<family_id>/members/<sub>")
@csrf_exempt  # bearer-token authenticated
@require_scope("families:write")
def revoke_member(family_id: str, sub: str) -> Response:
    tenant = current_tenant()
    family = service.get_family(tenant, family_id)
    service.revoke(tenant, family, _person(sub), actor="staff")
    return Response(status=204)


@bp.put("/families/<family_id>/primary")
@csrf_exempt  # bearer-token authenticated
@require_scope("families:write")
def set_primary(family_id: str) -> Response:
    tenant = current_tenant()
    family = service.get_family(tenant, family_id)
    body = json_object()
    sub = body.get("sub") if body else None
    if not isinstance(sub, str) or not sub:
        raise InvalidInput("Send a JSON object with the new primary guardian's 'sub'.")
    service.set_primary(tenant, family, _person(sub), actor="staff")
    return jsonify(service.describe(tenant, family))


# -- the guardian's own ------------------------------------------------------------------------

@bp.get("/me/family")
@require_scope("family")
def my_family() -> Response:
    tenant = current_tenant()
    user, found = _my_membership()
    body = service.describe(tenant, found.family, with_invitations=found.role == service.PRIMARY)
    return jsonify({**body, "role": found.role, "access": found.access})


@bp.post("/me/family/invitations")
@csrf_exempt  # bearer-token authenticated
@require_scope("family")
def my_invitation() -> Response:
    tenant = current_tenant()
    user, found = _my_membership()
    body = json_object()
    email = body.get("email") if body else None
    if not isinstance(email, str) or not email.strip() or len(email) > MAX_EMAIL_FIELD:
        raise InvalidInput("Send a JSON object with an 'email' string.")
    invitation = service.invite(tenant, _led(found, user), user, email, request.remote_addr or "")
    response = jsonify({"id": invitation.id, "email": invitation.email, "access": invitation.access,
                        "expires_at": invitation.expires_at.isoformat(), "status": "pending"})
    response.status_code = 201
    return response


@bp.delete("/me/family/invitations/<invitation_id>")
@csrf_exempt  # bearer-token authenticated
@require_scope("family")
def my_invitation_cancelled(invitation_id: str) -> Response:
    tenant = current_tenant()
    user, found = _my_membership()
    service.cancel_invitation(tenant, _led(found, user), user, invitation_id)
    return Response(status=204)


@bp.delete("/me/family/members/<sub>")
@csrf_exempt  # bearer-token authenticated
@require_scope("family")
def my_member_removed(sub: str) -> Response:
    tenant = current_tenant()
    user, found = _my_membership()
    service.revoke(tenant, _led(found, user), _person(sub), actor="primary")
    return Response(status=204)


def _my_membership() -> tuple[User, service.Membership]:
    """The token's person and the family it was issued for, while they still belong to it."""
    token: AccessToken = g.api_token
    tenant = current_tenant()
    user = find_user_by_sub(tenant, token.sub)
    if user is None or user.pool != "customer" or token.grant_id is None:
        raise Forbidden("This needs a customer's own access token.")
    found = service.membership(tenant, user.id, token.family_id) if token.family_id else None
    if found is None:
        raise NotFound("This token is for no family you belong to.")
    return user, found


def _led(found: service.Membership, user: User) -> Family:
    if found.role != service.PRIMARY:
        raise service.NotPrimary()
    return found.family


def _person(sub: str) -> User:
    user = find_user_by_sub(current_tenant(), sub)
    if user is None:
        raise NotFound("There is no person with this sub here.")
    return user
