"""Rendering a message from Jinja2 templates: plain text and HTML, branded with the tenant.

Templates live under templates/mail/{language}/{kind}.txt and .html; a tenant may override any
of them under templates/tenants/{account}/mail/…. The .txt template sets `subject`. English is
the fallback for every language, so a message is never lost for want of a translation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from flask import current_app
from jinja2 import Template

from idp.tenancy.models import Tenant

DEFAULT_LANGUAGE = "en"
_LANGUAGE = re.compile(r"^[a-z]{2,3}$")


@dataclass(frozen=True)
class RenderedMail:
    subject: str
    text: str
    html: str


def render_mail(tenant: Tenant, kind: str, locale: str | None = None, **context: Any) -> RenderedMail:
    """Render `kind` (e.g. "reset_password") for `tenant` in the person's language if we have it."""
    context.setdefault("tenant", tenant)
    text_module = _template(tenant, kind, "txt", locale).make_module(context)
    subject = " ".join(str(getattr(text_module, "subject", "")).split())
    if not subject:
        raise ValueError(f"mail template {kind}.txt sets no subject")
    html = _template(tenant, kind, "html", locale).render(subject=subject, **context)
    return RenderedMail(subject=subject, text=str(text_module).strip() + "\n", html=html)


def language_of(locale: str | None) -> str:
    """The primary language subtag of a BCP 47 tag ("pt-BR" → "pt"), or English."""
    primary = (locale or "").split("-")[0].split("_")[0].lower()
    return primary if _LANGUAGE.match(primary) else DEFAULT_LANGUAGE


def _template(tenant: Tenant, kind: str, extension: str, locale: str | None) -> Template:
    names = []
    for language in dict.fromkeys((language_of(locale), DEFAULT_LANGUAGE)):
        names += [f"tenants/{tenant.account}/mail/{language}/{kind}.{extension}",
                  f"mail/{language}/{kind}.{extension}"]
    return current_app.jinja_env.select_template(names)
