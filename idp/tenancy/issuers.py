"""Issuer and page URLs of a tenant, from configuration alone (no request needed)."""

from __future__ import annotations

from urllib.parse import urlsplit

from idp.config import Config


def path_issuer(config: Config, account: str) -> str:
    return f"{config.public_url}/a/{account}"


def host_issuer(config: Config, account: str) -> str:
    port = urlsplit(config.public_url).port
    return f"{config.public_scheme}://{account}.{config.base_domain}" + (f":{port}" if port else "")


def sign_in_urls(config: Config, account: str) -> list[str]:
    """The tenant's sign-in page in both forms: path first, then host."""
    return [f"{path_issuer(config, account)}/login", f"{host_issuer(config, account)}/login"]
