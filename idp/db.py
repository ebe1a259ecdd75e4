"""The SQLAlchemy instance, the base model and the tenant-scoped mixin."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any, TypeVar

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import DateTime, ForeignKey, MetaData, String, TypeDecorator, inspect
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, make_transient_to_detached, mapped_column

# Stable constraint names so Alembic migrations match the models on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


M = TypeVar("M")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)


def new_id() -> str:
    """A random primary key: 128 bits, URL-safe, never guessable or ordered."""
    return secrets.token_urlsafe(16)


class TenantScoped:
    """Mixin for every tenant-owned row: the tenant is part of every lookup and unique key."""

    @declared_attr
    def tenant_id(cls) -> Mapped[str]:  # noqa: N805 - SQLAlchemy's declared_attr convention
        return mapped_column(
            String(32), ForeignKey("tenants.id", ondelete="CASCADE"), index=True, nullable=False
        )


def writes_in_ctes() -> bool:
    """Whether this session's database runs data-modifying statements inside a WITH clause
    (PostgreSQL does, SQLite does not): the one place a statement's shape depends on the database."""
    return db.session.get_bind().dialect.name == "postgresql"


def loaded_instance(model: type[M], values: dict[str, Any]) -> M:
    """`model` holding `values` as if a query had just loaded them, in this request's session: the
    instance the session already holds for that primary key, or a new one added to it with
    nothing to flush. Changes to it are flushed as to any loaded object.

    Public API only: the mapped constructor, then `make_transient_to_detached`, which resets the
    attribute history as a load would, and `Session.add`, which attaches it as persistent."""
    mapper = inspect(model)
    session = db.session()
    key = mapper.identity_key_from_primary_key(
        tuple(values[mapper.get_property_by_column(column).key] for column in mapper.primary_key))
    existing = session.identity_map.get(key)
    if existing is not None:
        return existing
    instance = model(**values)
    make_transient_to_detached(instance)
    session.add(instance)
    return instance
