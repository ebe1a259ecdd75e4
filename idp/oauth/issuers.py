"""The issuer a request arrived at, and every issuer a tenant answers at (path and host forms)."""

from __future__ import annotations

from flask import current_app

from idp.tenancy.context import current_route
from idp.tenancy.issuers import host_issuer, path_issuer
from idp.tenancy.models import Tenant


def current_issuer() -> str:
    issuer = current_route().issuer
    assert issuer is not None  # protocol endpoints only exist under a tenant
    return issuer


def tenant_issuers(tenant: Tenant) -> list[str]:
    config = current_app.config["IDP"]
    return [path_issuer(config, tenant.account), host_issuer(config, tenant.account)]
