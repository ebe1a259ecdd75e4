"""Admin API: a tenant's connections (upstream identity providers).

    GET    /api/v1/connections          connections:read or connections:write   (never a secret)
    POST   /api/v1/connections          connections:write   {"kind", "name", "client_id", "client_secret", …}
    DELETE /api/v1/connections/<slug>   connections:write
"""

from __future__ import annotations

from typing import Any

from flask import current_app, jsonify
from werkzeug.wrappers import Response

from idp.api.auth import require_scope
from idp.api.views import bp
from idp.errors import InvalidInput
from idp.federation.connections import (
    NewConnection,
    add_connection,
    callback_uri,
    connections_of,
    describe,
    remove_connection,
)
from idp.federation.models import Connection
from idp.tenancy.context import current_tenant
from idp.web.csrf import csrf_exempt
from idp.web.inputs import json_object

TEXT_FIELDS = ("kind", "name", "client_id", "client_secret", "discovery_url", "entra_tenant", "pool", "scope", "slug",
               "metadata_xml", "metadata_url", "email_attribute")
LIST_FIELDS = ("hosted_domains", "email_domains")
FLAG_FIELDS = ("sso_required", "jit", "trust_upstream_mfa")
REQUIRED = ("kind", "name")  # the rest by kind: idp.federation.connections checks
MAX_DOMAINS = 50


@bp.get("/connections")
@require_scope("connections:read", "connections:write")
def list_connections() -> Response:
    return jsonify({"connections": [_described(c) for c in connections_of(current_tenant())]})


@bp.post("/connections")
@csrf_exempt  # bearer-token authenticated
@require_scope("connections:write")
def create_connection() -> Response:
    connection = add_connection(current_tenant(), _new_connection(json_object()))
    response = jsonify(_described(connection))
    response.status_code = 201
    return response


@bp.delete("/connections/<slug>")
@csrf_exempt  # bearer-token authenticated
@require_scope("connections:write")
def delete_connection(slug: str) -> Response:
    remove_connection(current_tenant(), slug)
    return Response(status=204)


def _new_connection(body: dict[str, Any] | None) -> NewConnection:
    """The body's fields, each of its one type; anything else is a 400 naming it."""
    if body is None:
        raise InvalidInput("Send a JSON object describing the connection.")
    unknown = set(body) - set(TEXT_FIELDS) - set(LIST_FIELDS) - set(FLAG_FIELDS)
    if unknown:
        raise InvalidInput(f"Unknown field: {sorted(unknown)[0][:60]}.")
    missing = [name for name in REQUIRED if body.get(name) is None]
    if missing:
        raise InvalidInput(f"'{missing[0]}' is required.")
    values: dict[str, Any] = {}
    for name in TEXT_FIELDS:
        if name in body and body[name] is not None:
            limit = 400_000 if name == "metadata_xml" else 2000
            if not isinstance(body[name], str) or len(body[name]) > limit:
                raise InvalidInput(f"'{name}' must be a string.")
            values[name] = body[name]
    for name in LIST_FIELDS:
        if name in body:
            items = body[name]
            if not isinstance(items, list) or len(items) > MAX_DOMAINS or not all(isinstance(i, str) for i in items):
                raise InvalidInput(f"'{name}' must be a list of domain names.")
            values[name] = tuple(items)
    for name in FLAG_FIELDS:
        if name in body:
            if not isinstance(body[name], bool):
                raise InvalidInput(f"'{name}' must be true or false.")
            values[name] = body[name]
    return NewConnection(**values)


def _described(connection: Connection) -> dict[str, Any]:
    tenant = current_tenant()
    return describe(connection, callback_uri(current_app.config["IDP"], tenant.account, connection.slug))
