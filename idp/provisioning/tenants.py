"""Creating a tenant: its row and its own signing keys (each tenant is its own issuer)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from idp.signing.service import create_signing_keys
from idp.tenancy.models import Tenant
from idp.tenancy.service import add_tenant


def create_tenant(account: str, name: str, settings: Mapping[str, Any] | None = None) -> Tenant:
    """A new tenant with its signing keys, flushed. Raises TenantError with a readable reason."""
    tenant = add_tenant(account, name, settings)
    create_signing_keys(tenant)
    return tenant
