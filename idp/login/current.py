"""The pipeline as seen from a step's page: who is signing in, for which pending request."""

from __future__ import annotations

from typing import Any, NoReturn

from flask import abort, g, redirect, request, url_for

from idp.oauth import interactions as pipeline
from idp.oauth.interactions import Context
from idp.tenancy.context import current_tenant


def pending_request_id(values: Any) -> str | None:
    """The id of the authorization request waiting for this sign-in, if it looks like one."""
    value = values.get("request", "")
    if isinstance(value, str) and 0 < len(value) <= 64 and value.replace("-", "").replace("_", "").isalnum():
        return value
    return None


def context_for(request_id: str | None) -> Context | None:
    """The signed-in person's pipeline context, with what the pending request asked for; None
    when nobody is signed in."""
    from idp.oauth.authorize import load_pending

    if g.get("user") is None or g.get("browser_session") is None:
        return None
    tenant = current_tenant()
    pending = load_pending(tenant, request_id) if request_id else None
    ctx = pipeline.context_of(tenant, g.user, g.browser_session, pending)
    return ctx if pending is not None or request_id is None else Context(tenant, g.user, g.browser_session, request_id)


def pool_for(request_id: str | None, values: Any) -> str:
    """Which pool's sign-in this is: the waiting app's (a client serves one pool), else what the
    link asked for (`pool=customer`, e.g. from the family page), else staff."""
    from idp.oauth.authorize import load_pending
    from idp.oauth.clients import find_client

    tenant = current_tenant()
    pending = load_pending(tenant, request_id) if request_id else None
    client = find_client(tenant, pending.client_id) if pending is not None else None
    if client is not None:
        return client.pool
    return "customer" if values.get("pool") == "customer" else "staff"


def login_hint_for(request_id: str | None, max_length: int) -> str:
    """The pending request's `login_hint` (OIDC Core §3.1.2.1) to prefill the sign-in form, or "".

    It is the relying party's guess, shown as typed (the template escapes it) and never looked
    up, so the form looks the same whether or not such an account exists. A hint longer than any
    identifier we accept, or with control characters, is not shown at all."""
    from idp.oauth.authorize import load_pending

    pending = load_pending(current_tenant(), request_id) if request_id else None
    hint = pending.params.get("login_hint", "").strip() if pending is not None else ""
    if len(hint) > max_length or not hint.isprintable():
        return ""
    return hint


def continue_url(request_id: str | None) -> str:
    """Back to the pipeline, which decides what comes next (never the step's own say-so). With an
    app waiting, straight to its authorization request, which asks the pipeline itself before it
    issues a code (one redirect, one request, fewer than through /continue)."""
    if request_id:
        return url_for("oauth.continue_authorization", request_id=request_id)
    return url_for("login.continue_sign_in")


def sign_in_url(request_id: str | None, pool: str = "staff") -> str:
    if request_id:
        return url_for("login.sign_in_form", request=request_id)
    return url_for("login.sign_in_form", pool="customer") if pool == "customer" else url_for("login.sign_in_form")


def step_context(step: pipeline.Step, request_id: str | None) -> Context:
    """The context for a page of `step`. Anyone else is sent on instead (flask.abort with a
    redirect): to sign in when nobody is, or to an earlier blocking step still needed."""
    ctx = context_for(request_id)
    if ctx is None:
        _send_to(sign_in_url(request_id))
    earlier = pipeline.blocking_step_before(step.name, ctx)
    if earlier is not None:
        _send_to(earlier)
    return ctx


def _send_to(url: str) -> NoReturn:
    abort(redirect(url, code=303 if request.method == "POST" else 302))
