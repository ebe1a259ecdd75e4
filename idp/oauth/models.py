"""Registered clients of a tenant (RFC 7591 metadata), with secrets stored only as keyed hashes."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from idp.db import TenantScoped, UTCDateTime, db, new_id


class Client(TenantScoped, db.Model):  # type: ignore[name-defined]
    __tablename__ = "clients"
    __table_args__ = (UniqueConstraint("tenant_id", "client_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    client_id: Mapped[str] = mapped_column(String(64), nullable=False)
    # HMAC-SHA256 under a master-derived key: secrets are 256-bit random, so a fast keyed hash
    # is as strong as a password hash and keeps argon2 off the token path.
    client_secret_hash: Mapped[str | None] = mapped_column(String(64))
    registration_token_hash: Mapped[str | None] = mapped_column(String(64))
    pool: Mapped[str] = mapped_column(String(16), nullable=False, default="staff")
    first_party: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    is_default: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    metadata_json: Mapped[str] = mapped_column(Text, nullable=False, default="{}")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    @property
    def client_metadata(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.metadata_json)
        return value

    @client_metadata.setter
    def client_metadata(self, value: dict[str, Any]) -> None:
        self.metadata_json = json.dumps(value, sort_keys=True)

    @property
    def client_name(self) -> str:
        return str(self.client_metadata.get("client_name", self.client_id))

    @property
    def redirect_uris(self) -> list[str]:
        return list(self.client_metadata.get("redirect_uris", []))

    @property
    def post_logout_redirect_uris(self) -> list[str]:
        return list(self.client_metadata.get("post_logout_redirect_uris", []))

    @property
    def grant_types(self) -> list[str]:
        return list(self.client_metadata.get("grant_types", ["authorization_code"]))

    @property
    def scope(self) -> str:
        return str(self.client_metadata.get("scope", "openid"))

    @property
    def token_endpoint_auth_method(self) -> str:
        return str(self.client_metadata.get("token_endpoint_auth_method", "client_secret_basic"))

    @property
    def is_public(self) -> bool:
        return self.token_endpoint_auth_method == "none"  # noqa: S105 - a method name

    @property
    def application_type(self) -> str:
        return str(self.client_metadata.get("application_type", "web"))
