"""Policy documents (platform-wide) and acceptances (per tenant and person)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from idp.db import TenantScoped, UTCDateTime, db, new_id

PLATFORM_KINDS = ("terms", "privacy")  # one set for every tenant; everyone accepts them
TENANT_KINDS = ("family",)  # each tenant publishes its own; who must accept them is decided above us
KINDS = PLATFORM_KINDS + TENANT_KINDS
TITLES = {"terms": "Terms & Conditions", "privacy": "Privacy Policy", "family": "Family Policies"}


class PolicyDocument(db.Model):  # type: ignore[name-defined]
    """One published version of a document. Platform documents (terms, privacy) have no tenant:
    every tenant's people accept the same ones. A tenant's own (family policies) name it. The
    newest is the one published last, whatever its name."""

    __tablename__ = "policy_documents"
    __table_args__ = (UniqueConstraint("tenant_id", "kind", "version"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str | None] = mapped_column(String(32), ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    version: Mapped[str] = mapped_column(String(64), nullable=False)
    url: Mapped[str] = mapped_column(String(2000), nullable=False)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    @property
    def title(self) -> str:
        return TITLES[self.kind]


class PolicyAcceptance(TenantScoped, db.Model):  # type: ignore[name-defined]
    """A person accepted one version: when, and from which address."""

    __tablename__ = "policy_acceptances"
    __table_args__ = (
        UniqueConstraint("tenant_id", "user_id", "document_id"),
        Index("ix_policy_acceptances_tenant_user", "tenant_id", "user_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(String(32), ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    document_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("policy_documents.id", ondelete="CASCADE"), index=True, nullable=False
    )
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    version: Mapped[str] = mapped_column(String(64), nullable=False)
    accepted_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    ip: Mapped[str | None] = mapped_column(String(45))
