"""The admin API described in OpenAPI 3.1, served at `{issuer}/api/v1/openapi.json`.

Written by hand next to the views, and kept true by tests/e2e/test_openapi.py, which runs
schemathesis against a live `idp serve`: every operation, with valid and invalid input, must
answer below 500 with a status and a body this document allows.
"""

from __future__ import annotations

from typing import Any

from flask import jsonify
from werkzeug.wrappers import Response

from idp.api.views import bp
from idp.oauth.issuers import current_issuer

STRING = {"type": "string"}
NULLABLE_STRING = {"type": ["string", "null"]}
TIME = {"type": "string", "format": "date-time"}

ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": STRING, "error_description": STRING},
}
PERSON = {
    "type": "object",
    "required": ["sub", "email", "email_verified", "name", "pool", "newsletter", "accepted_policies",
                 "second_factor", "landing_page", "landing_page_preference", "permissions"],
    "properties": {
        "sub": STRING, "email": NULLABLE_STRING, "email_verified": {"type": "boolean"}, "name": NULLABLE_STRING,
        "pool": {"enum": ["staff", "customer"]}, "newsletter": {"type": "boolean"},
        "accepted_policies": {"type": "object", "additionalProperties": {
            "type": "object", "required": ["version", "accepted_at"],
            "properties": {"version": STRING, "accepted_at": TIME}}},
        "second_factor": {"type": "boolean"}, "landing_page": NULLABLE_STRING,
        "landing_page_preference": NULLABLE_STRING,
        "permissions": {"type": ["array", "null"], "items": STRING},
        "invitation_sent": {"type": "boolean"},
    },
}
BUSINESS = {
    "type": "object",
    "required": ["business", "locations", "missing"],
    "properties": {
        "business": {"type": "object", "additionalProperties": NULLABLE_STRING},
        "locations": {"type": "array", "items": {"type": "object", "required": ["name"],
                                                 "additionalProperties": NULLABLE_STRING}},
        "missing": {"type": "array", "items": STRING},
    },
}
CONNECTION = {
    "type": "object",
    "required": ["id", "slug", "kind", "name", "pool", "email_domains", "sso_required", "jit"],
    "properties": {
        "id": STRING, "slug": STRING, "kind": {"enum": ["google", "microsoft", "oidc", "saml"]}, "name": STRING,
        "pool": {"enum": ["staff", "customer"]}, "client_id": NULLABLE_STRING, "discovery_url": NULLABLE_STRING,
        "entra_tenant": NULLABLE_STRING, "hosted_domains": {"type": "array", "items": STRING},
        "email_domains": {"type": "array", "items": STRING}, "sso_required": {"type": "boolean"},
        "jit": {"type": "boolean"}, "trust_upstream_mfa": {"type": "boolean"}, "scope": STRING,
        "redirect_uri": STRING, "entity_id": STRING, "acs_url": STRING, "metadata_url": STRING,
        "idp_entity_id": STRING, "email_attribute": NULLABLE_STRING,
    },
    "not": {"anyOf": [{"required": ["client_secret"]}]},  # never returned
}
NEW_CONNECTION = {
    "type": "object",
    "required": ["kind", "name"],
    "additionalProperties": False,
    "properties": {
        "kind": {"enum": ["google", "microsoft", "oidc", "saml"]}, "name": STRING, "client_id": STRING,
        "client_secret": STRING, "discovery_url": STRING, "entra_tenant": STRING, "pool": STRING, "scope": STRING,
        "slug": STRING, "metadata_xml": STRING, "metadata_url": STRING, "email_attribute": STRING,
        "hosted_domains": {"type": "array", "items": STRING}, "email_domains": {"type": "array", "items": STRING},
        "sso_required": {"type": "boolean"}, "jit": {"type": "boolean"}, "trust_upstream_mfa": {"type": "boolean"},
    },
}
MEMBER = {
    "type": "object", "required": ["sub", "email", "role", "access"],
    "properties": {"sub": STRING, "email": STRING, "name": NULLABLE_STRING,
                   "role": {"enum": ["primary", "secondary"]}, "access": {"enum": ["full", "view"]},
                   "added_at": TIME},
}
INVITATION = {
    "type": "object", "required": ["id", "email", "access", "expires_at", "status"],
    "properties": {"id": STRING, "email": STRING, "access": {"enum": ["view"]}, "created_at": TIME, "expires_at": TIME,
                   "status": {"enum": ["pending", "accepted", "cancelled", "expired"]}},
}
FAMILY = {
    "type": "object", "required": ["id", "name", "primary", "members"],
    "properties": {
        "id": STRING, "name": STRING, "created_at": TIME,
        "primary": {"type": ["object", "null"], "required": ["sub", "email"],
                    "properties": {"sub": STRING, "email": STRING}},
        "members": {"type": "array", "items": MEMBER},
        "invitations": {"type": "array", "items": INVITATION},
        "role": {"enum": ["primary", "secondary"]}, "access": {"enum": ["full", "view"]},
    },
}
AUDIT_PAGE = {
    "type": "object",
    "required": ["events", "next_cursor"],
    "properties": {
        "events": {"type": "array", "items": {
            "type": "object", "required": ["id", "type", "subject", "actor", "ip", "detail", "created_at"],
            "properties": {"id": STRING, "type": STRING, "subject": NULLABLE_STRING, "actor": STRING,
                           "ip": NULLABLE_STRING, "detail": {"type": "object"}, "created_at": TIME}}},
        "next_cursor": NULLABLE_STRING,
    },
}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _operation(operation_id: str, summary: str, scopes: list[str], ok: tuple[str, dict[str, Any]] | None, *,
               body: dict[str, Any] | None = None, errors: tuple[str, ...] = ("400", "401", "403"),
               links: dict[str, Any] | None = None) -> dict[str, Any]:
    responses: dict[str, Any] = {code: _json(ERROR, "refused; `error` says why") for code in errors}
    responses["413"] = _json(ERROR, "the body is larger than 64 KiB")
    responses["503"] = _json(ERROR, "the database is unavailable; retry after Retry-After seconds")
    if ok is not None:
        code, schema = ok
        responses[code] = _json(schema, "done") if schema else {"description": "done"}
        if links:
            responses[code]["links"] = links
    operation: dict[str, Any] = {"operationId": operation_id, "summary": summary, "security": [{"bearer": scopes}],
                                 "responses": responses}
    if body is not None:
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return operation


def _by(field: str, *operation_ids: str) -> dict[str, Any]:
    """OpenAPI links: the created resource's `field` names it in these operations."""
    return {operation_id: {"operationId": operation_id, "parameters": {field: f"$response.body#/{field}"}}
            for operation_id in operation_ids}


def _path_parameter(name: str) -> list[dict[str, Any]]:
    return [{"name": name, "in": "path", "required": True, "schema": STRING}]


def document(issuer: str) -> dict[str, Any]:
    people_write = ["users:write"]
    return {
        "openapi": "3.1.0",
        "info": {"title": "Portcullis admin API", "version": "1",
                 "description": "A tenant's people, business details, connections, families and audit trail. "
                                "Bearer tokens come from this issuer's token endpoint (client_credentials; "
                                "the /me/family operations take a guardian's own token with scope family)."},
        "servers": [{"url": f"{issuer}/api/v1"}],
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}},
        "paths": {
            "/users": {"post": _operation(
                "createPerson", "Create a person without a password (optionally mailing a set-password link)",
                people_write,
                ("201", PERSON), errors=("400", "401", "403", "409"), links=_by("sub", "getPerson", "updatePerson",
                                                                                    "removeSecondFactor"),
                body={"type": "object", "required": ["email"], "additionalProperties": False, "properties": {
                    "email": STRING, "name": STRING, "pool": {"enum": ["staff", "customer"]},
                    "send_invitation": {"type": "boolean"}}})},
            "/users/password-reset": {"post": _operation(
                "sendPasswordReset", "Mail a password reset link", ["users:write", "families:write"],
                ("202", {"type": "object", "required": ["status"], "properties": {"status": {"const": "sent"}}}),
                errors=("400", "401", "403", "404", "429"),
                body={"type": "object", "required": ["email"], "properties": {
                    "email": STRING, "pool": {"enum": ["staff", "customer"]}}})},
            "/users/{sub}": {
                "parameters": _path_parameter("sub"),
                "get": _operation("getPerson", "A person", ["users:read", "users:write"], ("200", PERSON),
                                  errors=("400", "401", "403", "404")),
                "patch": _operation(
                    "updatePerson", "Set a person's landing page and permissions", people_write, ("200", PERSON),
                    errors=("400", "401", "403", "404"),
                    body={"type": "object", "additionalProperties": False, "properties": {
                        "landing_page": STRING, "permissions": {"type": "array", "items": STRING}}}),
            },
            "/users/{sub}/second-factor": {
                "parameters": _path_parameter("sub"),
                "delete": _operation("removeSecondFactor", "Remove a person's second factor", people_write, ("204", {}),
                                     errors=("400", "401", "403", "404")),
            },
            "/business": {
                "get": _operation("getBusiness", "The business details", ["business:read", "business:write"],
                                  ("200", BUSINESS)),
                "put": _operation("putBusiness", "Set business details", ["business:write"], ("200", BUSINESS),
                                  body={"type": "object", "additionalProperties": NULLABLE_STRING}),
            },
            "/locations/{name}": {
                "parameters": _path_parameter("name"),
                "put": _operation("putLocation", "Create or update a location", ["business:write"], ("200", BUSINESS),
                                  body={"type": "object", "additionalProperties": NULLABLE_STRING}),
            },
            "/connections": {
                "get": _operation("listConnections", "The tenant's upstream identity providers (never a secret)",
                                  ["connections:read", "connections:write"],
                                  ("200", {"type": "object", "required": ["connections"], "properties": {
                                      "connections": {"type": "array", "items": CONNECTION}}})),
                "post": _operation("createConnection", "Add an upstream identity provider", ["connections:write"],
                                   ("201", CONNECTION), errors=("400", "401", "403", "409"), body=NEW_CONNECTION,
                                   links=_by("slug", "deleteConnection")),
            },
            "/connections/{slug}": {
                "parameters": _path_parameter("slug"),
                "delete": _operation("deleteConnection", "Remove a connection with its links", ["connections:write"],
                                     ("204", {}), errors=("400", "401", "403", "404")),
            },
            "/families/{family_id}": {
                "parameters": _path_parameter("family_id"),
                "get": _operation("getFamily", "A family: its members and invitations",
                                  ["families:read", "families:write"], ("200", FAMILY),
                                  errors=("400", "401", "403", "404")),
            },
            "/families/{family_id}/members/{sub}": {
                "parameters": _path_parameter("family_id") + _path_parameter("sub"),
                "delete": _operation("revokeFamilyMember", "End a secondary member's access (never grants any)",
                                     ["families:write"], ("204", {}), errors=("400", "401", "403", "404")),
            },
            "/families/{family_id}/primary": {
                "parameters": _path_parameter("family_id"),
                "put": _operation("setFamilyPrimary", "Change the primary guardian: all secondary access ends",
                                  ["families:write"], ("200", FAMILY), errors=("400", "401", "403", "404"),
                                  body={"type": "object", "required": ["sub"], "properties": {"sub": STRING}}),
            },
            "/me/family": {"get": _operation(
                "getMyFamily", "The family the guardian's own token (scope family) was issued for", ["family"],
                ("200", FAMILY), errors=("400", "401", "403", "404"))},
            "/me/family/invitations": {"post": _operation(
                "inviteToMyFamily", "Invite someone with view access (primary guardian only)", ["family"],
                ("201", INVITATION), errors=("400", "401", "403", "404", "429"),
                body={"type": "object", "required": ["email"], "properties": {"email": STRING}})},
            "/me/family/invitations/{invitation_id}": {
                "parameters": _path_parameter("invitation_id"),
                "delete": _operation("cancelMyFamilyInvitation", "Withdraw an invitation (primary guardian only)",
                                     ["family"], ("204", {}), errors=("400", "401", "403", "404", "409")),
            },
            "/me/family/members/{sub}": {
                "parameters": _path_parameter("sub"),
                "delete": _operation("removeMyFamilyMember", "End a member's access (primary guardian only)",
                                     ["family"], ("204", {}), errors=("400", "401", "403", "404")),
            },
            "/audit-events": {"get": {
                **_operation("listAuditEvents", "The audit trail, newest first", ["audit:read"], ("200", AUDIT_PAGE)),
                "parameters": [
                    {"name": "type", "in": "query", "schema": STRING},
                    {"name": "subject", "in": "query", "schema": STRING},
                    {"name": "since", "in": "query", "schema": TIME},
                    {"name": "cursor", "in": "query", "schema": STRING},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200}},
                ],
            }},
        },
    }


@bp.get("/openapi.json")
def openapi_document() -> Response:
    """Public (it describes the API, it holds nothing of the tenant's but its issuer)."""
    return jsonify(document(current_issuer()))
