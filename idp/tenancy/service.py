"""Creating, finding and configuring tenants."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import bindparam, select

from idp import clock
from idp.db import db
from idp.errors import InvalidInput
from idp.tenancy.models import Tenant
from idp.tenancy.names import validate_account_name
from idp.text import has_unreadable_characters

MAX_NAME_LENGTH = 200
SETTINGS_LIMITS = {
    # setting: (minimum, maximum)
    "idle_timeout_seconds": (300, 7 * 24 * 3600),
    "persistent_session_days": (1, 400),
    # Lifetimes of emailed links (docs/architecture.md §Email): reset 1 hour, verification 24 hours by default.
    "reset_link_seconds": (300, 24 * 3600),
    "verify_link_seconds": (3600, 30 * 24 * 3600),
    "invitation_link_seconds": (3600, 30 * 24 * 3600),
}


# Settings chosen from a list: setting -> the values allowed.
SETTINGS_CHOICES = {
    "second_factor_policy": ("off", "optional", "required"),  # for staff (idp.mfa)
}


class TenantError(InvalidInput):
    """A tenant cannot be created or changed as asked; the message says why."""


# Built once: constructing a statement costs more CPU than running it (every request runs this one).
_TENANT_BY_ACCOUNT = select(Tenant).where(Tenant.account == bindparam("account"))


def find_tenant(account: str) -> Tenant | None:
    return db.session.execute(_TENANT_BY_ACCOUNT, {"account": account}).scalar_one_or_none()


def get_tenant(account: str) -> Tenant:
    tenant = find_tenant(account)
    if tenant is None:
        raise TenantError(f"no tenant with account name '{account}'")
    return tenant


def add_tenant(account: str, name: str, settings: Mapping[str, Any] | None = None) -> Tenant:
    """The tenant's row, flushed; `idp.provisioning.tenants.create_tenant` gives it its keys.
    Raises TenantError with a readable reason."""
    try:
        validate_account_name(account)
    except ValueError as exc:
        raise TenantError(str(exc)) from exc
    if find_tenant(account) is not None:
        raise TenantError(f"the account name '{account}' is already taken")
    tenant = Tenant(account=account, name=_display_name(name), created_at=clock.now())
    apply_settings(tenant, settings or {})
    db.session.add(tenant)
    db.session.flush()
    return tenant


def apply_settings(tenant: Tenant, settings: Mapping[str, Any]) -> None:
    for key, value in settings.items():
        if key in SETTINGS_CHOICES:
            if value not in SETTINGS_CHOICES[key]:
                raise TenantError(f"setting '{key}' must be one of {', '.join(SETTINGS_CHOICES[key])}")
            setattr(tenant, key, value)
            continue
        if key not in SETTINGS_LIMITS:
            raise TenantError(f"unknown tenant setting '{key}'")
        low, high = SETTINGS_LIMITS[key]
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise TenantError(f"setting '{key}' must be a whole number from {low} to {high}")
        setattr(tenant, key, value)


def rename_tenant(tenant: Tenant, name: str) -> None:
    tenant.name = _display_name(name)


def _display_name(name: str) -> str:
    name = " ".join(name.split())
    if not name or len(name) > MAX_NAME_LENGTH:
        raise TenantError(f"a tenant name is 1 to {MAX_NAME_LENGTH} characters")
    if has_unreadable_characters(name):
        raise TenantError("the tenant name contains characters that could not be read (is it UTF-8?)")
    return name
