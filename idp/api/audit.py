"""Admin API: the tenant's audit trail, newest first, a page at a time.

    GET /api/v1/audit-events?type=&subject=&since=&cursor=&limit=     audit:read

`type` is an event name (`policy.accepted`) or a family ending in a dot (`federation.`);
`subject` a person's `sub`; `since` an ISO 8601 time; `cursor` the `next_cursor` of the page
before. Pages are keyset-paginated on (created_at, id), so a page never repeats or skips an
event while new ones are written.
"""

from __future__ import annotations

from flask import jsonify, request
from werkzeug.wrappers import Response

from idp.accounts.service import find_user_by_sub, subs_of
from idp.api.auth import require_scope
from idp.api.views import bp
from idp.audit.service import AuditQuery, BadCursor, page_of_events
from idp.errors import InvalidInput
from idp.tenancy.context import current_tenant

MAX_LIMIT = 200
DEFAULT_LIMIT = 50


@bp.get("/audit-events")
@require_scope("audit:read")
def list_audit_events() -> Response:
    tenant = current_tenant()
    args = request.args
    limit_text = args.get("limit", str(DEFAULT_LIMIT))
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_LIMIT:
        raise InvalidInput(f"'limit' must be 1 to {MAX_LIMIT}.")
    subject = args.get("subject")
    user_id = None
    if subject is not None:
        user = find_user_by_sub(tenant, subject)
        if user is None:  # nobody by that sub here: an empty trail, not a 404 (the trail outlives accounts)
            return jsonify({"events": [], "next_cursor": None})
        user_id = user.id
    try:
        query = AuditQuery.parse(event=args.get("type"), user_id=user_id, since=args.get("since"),
                                 cursor=args.get("cursor"), limit=int(limit_text))
    except BadCursor as exc:
        raise InvalidInput(str(exc)) from exc
    page = page_of_events(tenant, query)
    subs = subs_of(tenant, {event.user_id for event in page.events if event.user_id})
    return jsonify({
        "events": [{"id": e.id, "type": e.event, "subject": subs.get(e.user_id or ""), "actor": e.actor,
                    "ip": e.ip, "detail": e.detail, "created_at": e.created_at.isoformat()} for e in page.events],
        "next_cursor": page.next_cursor,
    })
