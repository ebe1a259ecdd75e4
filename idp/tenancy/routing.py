"""Which tenant a request is for, and under which issuer: pure functions, no I/O.

Two forms reach a tenant (docs/architecture.md §Tenancy):
- path: `{IDP_PUBLIC_URL}/a/{account}/…`  → issuer `{IDP_PUBLIC_URL}/a/{account}`
- host: `{account}.{IDP_BASE_DOMAIN}[:port]/…` → issuer `{scheme}://{account}.{IDP_BASE_DOMAIN}[:port]`

The issuer is always built from configuration and a syntactically valid account name, never
copied from an arbitrary Host header.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from idp.tenancy.names import looks_like_account_name

Form = Literal["path", "host"]


@dataclass(frozen=True)
class Route:
    """Where a request goes. `account` is None for the platform root."""

    account: str | None
    form: Form | None
    script_name: str
    path_info: str
    issuer: str | None

    @property
    def cookie_path(self) -> str:
        return self.script_name or "/"


@dataclass(frozen=True)
class UnknownHost:
    """The Host header is neither the public host nor a tenant subdomain."""

    host: str


def resolve(
    host: str, path: str, *, public_url: str, public_host: str, public_path: str,
    public_scheme: str, base_domain: str,
) -> Route | UnknownHost | None:
    """Resolve `host` and `path`; None means "not found" (a malformed account in the path)."""
    host = host.strip().lower()
    if host == public_host:
        return _resolve_path_form(path, public_url, public_path)
    name, _, port = host.partition(":")
    label, dot, domain = name.partition(".")
    if dot and domain == base_domain and looks_like_account_name(label) and _is_port(port):
        issuer = f"{public_scheme}://{label}.{base_domain}" + (f":{port}" if port else "")
        return Route(label, "host", "", path or "/", issuer)
    return UnknownHost(host)


def _is_port(value: str) -> bool:
    """Empty or a TCP port in ASCII digits: the issuer copies it, so nothing else may pass."""
    return value == "" or (value.isascii() and value.isdigit() and len(value) <= 5 and int(value) <= 65535)


def _resolve_path_form(path: str, public_url: str, public_path: str) -> Route | None:
    if public_path and not (path == public_path or path.startswith(public_path + "/")):
        return None
    rest = path[len(public_path):] or "/"
    if not rest.startswith("/a/"):
        return Route(None, None, public_path, rest, None)
    account, _, tail = rest[3:].partition("/")
    if not looks_like_account_name(account):
        return None
    return Route(account, "path", f"{public_path}/a/{account}", "/" + tail, f"{public_url}/a/{account}")
