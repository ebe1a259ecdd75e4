"""The session cookie: HttpOnly, SameSite=Lax, Secure on https, scoped to the tenant."""

from __future__ import annotations

from flask import current_app, g, request
from werkzeug.wrappers import Response

from idp.accounts.service import get_user
from idp.sessions.service import StartedSession, resume_session
from idp.tenancy.routing import Route

COOKIE_NAME = "portcullis_session"


def load_browser_session() -> None:
    """before_request: `g.browser_session` and `g.user` for the tenant's live session, if any.

    Loading renews the idle timer: any request that the server answers without refusing counts
    as activity (the renewal is part of the request's unit of work).
    """
    g.browser_session = None
    g.user = None
    tenant = g.get("tenant")
    if tenant is None:
        return
    session = resume_session(tenant, request.cookies.get(COOKIE_NAME))
    if session is not None:
        g.browser_session = session
        g.user = get_user(tenant, session.user_id)


def set_session_cookie(response: Response, started: StartedSession, route: Route) -> None:
    response.set_cookie(
        COOKIE_NAME,
        started.cookie_value,
        max_age=started.max_age,
        httponly=True,
        samesite="Lax",
        secure=current_app.config["IDP"].secure_cookies,
        path=route.cookie_path,
    )


def clear_session_cookie(response: Response, route: Route) -> None:
    response.delete_cookie(
        COOKIE_NAME,
        path=route.cookie_path,
        httponly=True,
        samesite="Lax",
        secure=current_app.config["IDP"].secure_cookies,
    )
