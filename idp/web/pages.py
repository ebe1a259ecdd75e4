"""Rendering pages, with per-tenant template overrides under templates/tenants/{account}/."""

from __future__ import annotations

from typing import Any

from flask import g, render_template
from jinja2 import Template


def render_page(name: str, status: int = 200, **context: Any) -> tuple[str, int]:
    route = g.get("route")
    candidates: list[str | Template] = [name]
    if route is not None and route.account:
        candidates.insert(0, f"tenants/{route.account}/{name}")
    context.setdefault("tenant", g.get("tenant"))
    return render_template(candidates, **context), status


def form_value(form: Any, name: str, max_length: int) -> str:
    """A text field, trimmed; over-long values are cut so they cannot reach storage."""
    value = form.get(name, "")
    return value[:max_length].strip() if isinstance(value, str) else ""
