"""Where a staff member lands after signing in, as the `landing_page` claim tells the portal.

Each staff member prefers "welcome" or "dashboard" (default "welcome") and may see a set of
pages. The claim is the preference when that page is permitted, else the first permitted page in
this documented order (the portal's menu order):

    welcome, dashboard, calendar, classes, students, families, staff, billing, reports, settings

Permissions are stored as a list of these page names; none stored means every page (the owner,
and accounts made before permissions were kept). "settings" also means the person may edit the
business and location settings, so they are the ones told when details are missing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from idp.accounts.models import User
from idp.errors import InvalidInput

PAGES = ("welcome", "dashboard", "calendar", "classes", "students", "families", "staff", "billing", "reports",
         "settings")
PREFERENCES = ("welcome", "dashboard")
DEFAULT_PREFERENCE = "welcome"


class InvalidPermissions(InvalidInput):
    """An unknown page name or landing-page preference; the message names it."""


def choose_landing_page(preference: str | None, permitted: Iterable[str]) -> str | None:
    """The preference if permitted, else the first permitted page by PAGES order (pure)."""
    allowed = set(permitted)
    wanted = preference or DEFAULT_PREFERENCE
    if wanted in allowed:
        return wanted
    return next((page for page in PAGES if page in allowed), None)


def permitted_pages(user: User) -> tuple[str, ...]:
    if user.permissions_json is None:
        return PAGES
    stored = set(json.loads(user.permissions_json))
    return tuple(page for page in PAGES if page in stored)


def landing_page(user: User) -> str | None:
    return choose_landing_page(user.landing_page, permitted_pages(user))


def may_edit_settings(user: User) -> bool:
    return user.pool == "staff" and "settings" in permitted_pages(user)


def set_permissions(user: User, pages: list[str] | None) -> None:
    if pages is None:
        user.permissions_json = None
        return
    if not isinstance(pages, list) or not all(isinstance(p, str) for p in pages):
        raise InvalidPermissions("permissions must be a list of page names")
    unknown = [page for page in pages if page not in PAGES]
    if unknown:
        raise InvalidPermissions(f"unknown page {unknown[0]!r}; pages are {', '.join(PAGES)}")
    user.permissions_json = json.dumps([page for page in PAGES if page in set(pages)])


def set_landing_preference(user: User, preference: str | None) -> None:
    if preference is not None and preference not in PREFERENCES:
        raise InvalidPermissions(f"landing_page must be one of {', '.join(PREFERENCES)}")
    user.landing_page = preference


def apply_staff_settings(user: User, values: Mapping[str, Any]) -> None:
    """Set `landing_page` and `permissions` where `values` has them (the admin API, tenant TOML);
    raises InvalidPermissions."""
    if "landing_page" in values:
        set_landing_preference(user, values["landing_page"])
    if "permissions" in values:
        set_permissions(user, values["permissions"])
