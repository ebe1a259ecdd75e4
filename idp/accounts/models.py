"""Users of a tenant, in two pools: staff and customers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from idp.db import TenantScoped, UTCDateTime, db, new_id

POOLS = ("staff", "customer")


class User(TenantScoped, db.Model):  # type: ignore[name-defined]
    __tablename__ = "users"
    __table_args__ = (
        # docs/architecture.md §People: an email is unique per (tenant, pool), case-insensitively.
        UniqueConstraint("tenant_id", "pool", "email_normalized"),
        UniqueConstraint("tenant_id", "pool", "username_normalized"),
        UniqueConstraint("tenant_id", "sub"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    pool: Mapped[str] = mapped_column(String(16), nullable=False)
    # `sub`: random, stable and opaque; never the email or the row id.
    sub: Mapped[str] = mapped_column(String(64), nullable=False)
    email: Mapped[str] = mapped_column(String(254), nullable=False)
    # NULL only for imported accounts whose address another account of the pool already holds
    # (docs/decisions/shared-imported-emails.md): they sign in by username until given their own.
    email_normalized: Mapped[str | None] = mapped_column(String(254))
    email_verified: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    username: Mapped[str | None] = mapped_column(String(150))
    username_normalized: Mapped[str | None] = mapped_column(String(150))
    name: Mapped[str | None] = mapped_column(String(200))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # BCP 47 tag for mail and pages when known (None: the tenant's default, English).
    locale: Mapped[str | None] = mapped_column(String(35))
    # Staff: the preferred landing page ("welcome" or "dashboard"; None: welcome) and the pages
    # they may see, as a JSON list (None: every page). See idp/accounts/landing.py.
    landing_page: Mapped[str | None] = mapped_column(String(16))
    permissions_json: Mapped[str | None] = mapped_column(Text)
    newsletter: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default=false())
