"""Creating and renaming tenants: display names a person can read."""

from __future__ import annotations

import pytest

from idp.provisioning.tenants import create_tenant
from idp.tenancy.service import TenantError, rename_tenant
from tests.helpers import make_tenant


@pytest.mark.parametrize("name", ["", "   ", "x" * 201, "Acme \ud800", "Acme \udcff\udcfe", "Acme \ufffd"])
def test_unusable_display_names_are_refused(app, name: str) -> None:
    with pytest.raises(TenantError, match="tenant name"):
        create_tenant("acme", name)
    tenant = make_tenant()
    with pytest.raises(TenantError, match="tenant name"):
        rename_tenant(tenant, name)
