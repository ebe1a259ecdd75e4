"""Ending a browser session everywhere it reached: grants revoked, relying parties told."""

from __future__ import annotations

from idp.accounts.models import User
from idp.oauth.backchannel import queue_logout
from idp.oauth.grants import revoke_session_grants, revoke_user_grants
from idp.sessions.models import BrowserSession
from idp.sessions.service import end_all_sessions, end_session
from idp.tenancy.models import Tenant


def sign_out(tenant: Tenant, session: BrowserSession, user: User | None) -> None:
    """End `session`, revoke the refresh tokens issued in it and queue back-channel logouts (caller commits)."""
    end_session(session)
    grants = revoke_session_grants(tenant, session.id)
    queue_logout(tenant, grants, user.sub if user else None)


def sign_out_everywhere(tenant: Tenant, user: User) -> None:
    """End every session of `user`, revoke all their grants and tell relying parties (password
    changed, account disabled). The caller commits."""
    end_all_sessions(tenant, user)
    grants = revoke_user_grants(tenant, user.id)
    queue_logout(tenant, grants, user.sub)
