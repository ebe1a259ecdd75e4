"""Ending a browser session everywhere it reached: grants revoked, relying parties told."""

from __future__ import annotations

from idp.accounts.models import User
from idp.oauth.backchannel import queue_logout
from idp.oauth.grants import revoke_session_grants
from idp.sessions.models import BrowserSession
from idp.sessions.service import end_session
from idp.tenancy.models import Tenant


def sign_out(tenant: Tenant, session: BrowserSession, user: User | None) -> None:
    """End `session`, revoke the refresh tokens issued in it and queue back-channel logouts (caller commits)."""
    end_session(session)
    grants = revoke_session_grants(tenant, session.id)
    queue_logout(tenant, grants, user.sub if user else None)
