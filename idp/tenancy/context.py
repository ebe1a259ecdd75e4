"""The resolved tenant of the current request."""

from __future__ import annotations

from flask import abort, g, request

from idp.errors import NotFound
from idp.tenancy.cache import cached_tenant
from idp.tenancy.middleware import ROUTE_KEY
from idp.tenancy.models import Tenant
from idp.tenancy.routing import Route


class UnknownAccount(NotFound):
    """The request names an account that does not exist: a 404 page that helps find the right one."""

    title = "Account not found"
    message = "There is no account at this address."
    page = "tenancy/unknown_account.html"

    def __init__(self, account: str | None) -> None:
        super().__init__()
        self.account = account

    def page_context(self) -> dict[str, object]:
        return {"account": self.account}


def load_tenant() -> None:
    """before_request: resolve `g.route` and `g.tenant` (None at the platform root)."""
    route: Route | None = request.environ.get(ROUTE_KEY)
    if route is None:
        raise UnknownAccount(None)
    g.route = route
    g.tenant = None
    if route.account is not None:
        g.tenant = cached_tenant(route.account)
        if g.tenant is None:
            raise UnknownAccount(route.account)


def current_tenant() -> Tenant:
    """The tenant of this request; 404 where there is none (the platform root)."""
    tenant: Tenant | None = g.get("tenant")
    if tenant is None:
        abort(404)
    return tenant


def current_route() -> Route:
    route: Route = g.route
    return route


def require_tenant() -> None:
    """before_request for tenant-only blueprints."""
    current_tenant()
