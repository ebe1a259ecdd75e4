"""Business and location details of a tenant, and which of them are missing.

Details arrive from the tenant file (`[business]`, `[[locations]]`) and the admin API. Only a
tenant that keeps its details here is checked: one that has given none at all has nothing to
compare against, and telling every owner "everything is missing" would teach them to ignore it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from idp import clock
from idp.accounts.emails import InvalidEmail, validate_email
from idp.business.models import BusinessDetails, Location
from idp.db import db
from idp.errors import InvalidInput
from idp.tenancy.models import Tenant

# field: (label, why it matters)
BUSINESS_FIELDS = {
    "legal_name": ("Business name", "it appears on receipts and emails"),
    "email": ("Business email address", "replies to emails to customers have nowhere to go"),
    "phone": ("Business phone number", "customers cannot call you from receipts and emails"),
    "address": ("Business address", "it is required on receipts"),
}
LOCATION_FIELDS = {
    "email": ("email address", "receipt emails will not be sent"),
    "phone": ("phone number", "customers cannot call this location"),
    "address": ("address", "customers cannot find this location"),
}
MAX_LENGTHS = {"legal_name": 200, "name": 200, "email": 254, "phone": 40, "address": 500}


class BusinessError(InvalidInput):
    """Details that cannot be stored; the message says which and why."""


@dataclass(frozen=True)
class MissingDetail:
    label: str  # "Location “Downtown”: email address"
    consequence: str  # "receipt emails will not be sent"


def business_of(tenant: Tenant) -> BusinessDetails | None:
    return db.session.execute(
        select(BusinessDetails).where(BusinessDetails.tenant_id == tenant.id)
    ).scalar_one_or_none()


def locations_of(tenant: Tenant) -> list[Location]:
    return list(db.session.execute(
        select(Location).where(Location.tenant_id == tenant.id).order_by(Location.name)
    ).scalars())


def missing_details(tenant: Tenant) -> list[MissingDetail]:
    business = business_of(tenant)
    locations = locations_of(tenant)
    if business is None and not locations:
        return []
    missing = [MissingDetail(label, why) for field, (label, why) in BUSINESS_FIELDS.items()
               if business is None or not getattr(business, field)]
    for location in locations:
        missing += [MissingDetail(f"Location “{location.name}”: {label}", why)
                    for field, (label, why) in LOCATION_FIELDS.items() if not getattr(location, field)]
    return missing


def apply_business(tenant: Tenant, values: Mapping[str, Any]) -> BusinessDetails:
    """Set the given fields (others stay as they are); the unit of work commits."""
    cleaned = _clean(values, BUSINESS_FIELDS.keys(), "business")
    business = business_of(tenant)
    if business is None:
        business = BusinessDetails(tenant_id=tenant.id, updated_at=clock.now())
        db.session.add(business)
    for field, value in cleaned.items():
        setattr(business, field, value)
    business.updated_at = clock.now()
    db.session.flush()
    return business


def apply_location(tenant: Tenant, values: Mapping[str, Any]) -> Location:
    """Create the location named `values["name"]` or update its given fields; the unit of work commits."""
    name = values.get("name")
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > MAX_LENGTHS["name"]:
        raise BusinessError(f"a location needs a 'name' of 1 to {MAX_LENGTHS['name']} characters")
    cleaned = _clean({k: v for k, v in values.items() if k != "name"}, LOCATION_FIELDS.keys(),
                     f"location {name.strip()!r}")
    location = find_location(tenant, name.strip())
    if location is None:
        location = Location(tenant_id=tenant.id, name=name.strip(), updated_at=clock.now())
        db.session.add(location)
    for field, value in cleaned.items():
        setattr(location, field, value)
    location.updated_at = clock.now()
    db.session.flush()
    return location


def find_location(tenant: Tenant, name: str) -> Location | None:
    return db.session.execute(
        select(Location).where(Location.tenant_id == tenant.id, Location.name == name)
    ).scalar_one_or_none()


def details_as_dict(tenant: Tenant) -> dict[str, Any]:
    business = business_of(tenant)
    return {
        "business": {field: getattr(business, field) if business else None for field in BUSINESS_FIELDS},
        "locations": [{"name": loc.name, **{field: getattr(loc, field) for field in LOCATION_FIELDS}}
                      for loc in locations_of(tenant)],
        "missing": [detail.label for detail in missing_details(tenant)],
    }


def _clean(values: Mapping[str, Any], fields: Any, what: str) -> dict[str, str | None]:
    cleaned: dict[str, str | None] = {}
    for field, value in values.items():
        if field not in fields:
            raise BusinessError(f"{what}: unknown field '{field}'; fields are {', '.join(fields)}")
        if value is not None and not isinstance(value, str):
            raise BusinessError(f"{what}: '{field}' must be text")
        text = " ".join(value.split()) if value else ""
        if len(text) > MAX_LENGTHS[field]:
            raise BusinessError(f"{what}: '{field}' is at most {MAX_LENGTHS[field]} characters")
        if field == "email" and text:
            try:
                text = validate_email(text)
            except InvalidEmail as exc:
                raise BusinessError(f"{what}: {exc}") from exc
        cleaned[field] = text or None
    return cleaned
