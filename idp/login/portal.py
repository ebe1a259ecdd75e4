"""Where a direct sign-in (no app asked) ends: the tenant's default portal, if it has one."""

from __future__ import annotations

from authlib.common.urls import add_params_to_uri
from sqlalchemy import select

from idp.accounts.models import User
from idp.db import db
from idp.oauth.models import Client
from idp.tenancy.context import current_route
from idp.tenancy.models import Tenant


def default_portal_url(tenant: Tenant, user: User) -> str | None:
    """The default client's `initiate_login_uri`, with `iss` (OIDC Core §4, third-party-initiated
    login): the portal then sends an ordinary authorization request, which the session answers
    without asking again. None when the tenant has no default portal for the person's pool."""
    clients = db.session.execute(
        select(Client).where(Client.tenant_id == tenant.id, Client.is_default.is_(True), Client.pool == user.pool)
        .order_by(Client.created_at)
    ).scalars()
    for client in clients:
        uri = client.client_metadata.get("initiate_login_uri")
        if isinstance(uri, str) and uri.startswith(("https://", "http://")):
            issuer = current_route().issuer
            return add_params_to_uri(uri, {"iss": issuer}) if issuer else uri
    return None
