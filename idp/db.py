"""The SQLAlchemy instance, the base model and the tenant-scoped mixin."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any, TypeVar

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import DateTime, ForeignKey, MetaData, String, TypeDecorator
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


def column_keys(model: type[Any]) -> list[tuple[str, Any]]:
    """(attribute key, column) of each mapped column of `model`, in mapper order."""
    return [(attr.key, attr.columns[0]) for attr in model.__mapper__.column_attrs]


def loaded_instance(model: type[M], values: dict[str, Any]) -> M:
    """`model` holding `values` as if a query had just loaded them, in this request's session: the
    instance the session already holds for that primary key, or a new one added to it with
    nothing to flush. Changes to it are flushed as to any loaded object.

    The mapped __init__ would replay every column through attribute events and defaults; the
    values are a loaded row's, so they are set as a load sets them and marked committed."""
    mapper = model.__mapper__  # type: ignore[attr-defined]
    session = db.session()
    key = mapper.identity_key_from_primary_key(
        tuple(values[mapper.get_property_by_column(column).key] for column in mapper.primary_key))
    existing = session.identity_map.get(key)
    if existing is not None:
        return existing
    instance = mapper.class_manager.new_instance()
    instance.__dict__.update(values)
    make_transient_to_detached(instance)
    session.add(instance)
    return instance


class DriverQuery:
    """A SELECT built with SQLAlchemy Core, compiled once for PostgreSQL and sent straight through
    the session's psycopg connection, inside the session's transaction.

    For the token endpoint's hottest statements only: SQLAlchemy's ORM execution path costs
    about twice the statement's own round trip there (docs/decisions/driver-queries-on-the-token-path.md).
    The statement selects the columns of `models` in order (`column_keys`); each row comes back
    as one values dict per model, after the same type processing a query applies (UTC datetimes),
    for `loaded_instance`. A model whose primary key is NULL (an outer join that matched nothing)
    comes back as None. Pending changes are flushed first, as the ORM's autoflush would.
    """

    def __init__(self, statement: Any, models: tuple[type[Any], ...]) -> None:
        from sqlalchemy.dialects.postgresql import psycopg as pg

        dialect = pg.dialect()
        compiled = statement.compile(dialect=dialect)
        self.sql = str(compiled)
        self._bind = {name: processor for name, bind in compiled.binds.items()
                      if (processor := bind.type._cached_bind_processor(dialect)) is not None}
        self._shapes: list[tuple[list[str], int, int, int]] = []
        expected: list[Any] = []
        for model in models:
            keys = column_keys(model)
            pk = [key for key, column in keys if column.primary_key][0]
            self._shapes.append(([key for key, _ in keys], len(expected), len(expected) + len(keys),
                                 len(expected) + [key for key, _ in keys].index(pk)))
            expected += [column for _, column in keys]
        selected = list(statement.selected_columns)
        if len(selected) != len(expected) or any(a is not b for a, b in zip(selected, expected, strict=False)):
            raise ValueError("the statement must select exactly the columns of its models, in order")
        self._result = [column.type._cached_result_processor(dialect, None) for column in expected]

    def first(self, params: dict[str, Any]) -> list[dict[str, Any] | None] | None:
        bound = {name: self._bind[name](value) if name in self._bind else value for name, value in params.items()}
        session = db.session()
        if session.autoflush:
            session.flush()  # as a query would: pending changes are visible to the statement (no-op when clean)
        driver = session.connection().connection.driver_connection
        row = driver.execute(self.sql, bound).fetchone()  # type: ignore[union-attr]
        if row is None:
            return None
        values = [value if process is None or value is None else process(value)
                  for process, value in zip(self._result, row, strict=True)]
        return [dict(zip(keys, values[start:end], strict=True)) if values[pk] is not None else None
                for keys, start, end, pk in self._shapes]
