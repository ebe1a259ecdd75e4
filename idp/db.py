"""The SQLAlchemy instance, the base model and the tenant-scoped mixin."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any, TypeVar

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import DateTime, ForeignKey, MetaData, String, TypeDecorator, inspect
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, make_transient_to_detached, mapped_column
from sqlalchemy.orm.attributes import set_committed_value

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


def execute_core(statement: Any, params: dict[str, Any]) -> Any:
    """Run a Core statement on this session's connection, inside its transaction, after flushing
    pending changes as a query would. For the token path's hottest statements: the ORM's
    per-statement machinery (entity loading, execution events) costs more there than the
    statement's own round trip. Rows come back as Core rows; `loaded_instance` makes objects."""
    db.session.flush()
    return db.session.connection().execute(statement, params)


def columns_of(model: type[Any]) -> list[Any]:
    """The mapped columns of `model`, in mapper order, for a Core select that `values_of` splits."""
    return [attr.columns[0] for attr in inspect(model).column_attrs]


def values_of(model: type[Any], row: Any, start: int = 0) -> dict[str, Any] | None:
    """`model`'s attribute values from a Core row selected with `columns_of(model)` at `start`;
    None when its primary key is NULL (an outer join that found nothing)."""
    mapper = inspect(model)
    keys = [attr.key for attr in mapper.column_attrs]
    values = dict(zip(keys, row[start:start + len(keys)], strict=True))
    primary = [mapper.get_property_by_column(column).key for column in mapper.primary_key]
    return None if any(values[key] is None for key in primary) else values


def loaded_instance(model: type[M], values: dict[str, Any]) -> M:
    """`model` holding `values` as if a query had just loaded them, in this request's session: the
    instance the session already holds for that primary key, or a new one added to it with
    nothing to flush. Changes to it are flushed as to any loaded object.

    Public API: the mapper's class manager makes the instance without running the mapped
    constructor (whose attribute events cost more than the statement on the token path),
    `set_committed_value` sets each value as a load does, and `make_transient_to_detached` plus
    `Session.add` attach it as persistent."""
    mapper = inspect(model)
    session = db.session()
    key = mapper.identity_key_from_primary_key(
        tuple(values[mapper.get_property_by_column(column).key] for column in mapper.primary_key))
    existing = session.identity_map.get(key)
    if existing is not None:
        return existing
    instance: M = mapper.class_manager.new_instance()
    for name, value in values.items():
        set_committed_value(instance, name, value)
    make_transient_to_detached(instance)
    session.add(instance)
    return instance
