"""The SQLAlchemy instance, the base model, the tenant-scoped mixin, and what a request reads once (`remembered`)."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import DateTime, ForeignKey, MetaData, String, TypeDecorator, event, inspect
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    declared_attr,
    make_transient_to_detached,
    mapped_column,
)

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


def add_once(row: Any) -> bool:
    """Insert `row` in a savepoint; False, with the transaction intact, when a unique key says
    it is there already (the same request sent twice at once: the first one wins)."""
    try:
        with db.session.begin_nested():
            db.session.add(row)
    except IntegrityError:
        return False
    return True


T = TypeVar("T")
_REMEMBERED = "idp.remembered"


def remembered(key: Hashable, load: Callable[[], T]) -> T:
    """What `load()` returns, read once per transaction: the same question asked again by another
    part of this request (the pool of the waiting app, its login hint, the pipeline) is answered
    from memory, None included. Forgotten at commit and rollback, and by `forget(key)` when the
    request itself deletes what was read."""
    memo: dict[Hashable, Any] = db.session.info.setdefault(_REMEMBERED, {})
    if key not in memo:
        memo[key] = load()
    value: T = memo[key]
    return value


def forget(key: Hashable) -> None:
    db.session.info.get(_REMEMBERED, {}).pop(key, None)


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _forget_remembered(session: Session) -> None:
    session.info.pop(_REMEMBERED, None)


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


@dataclass(frozen=True)
class Columns:
    """Some or all of a model's mapped columns, for a Core select whose rows `loaded_instance`
    turns into objects. Attributes not selected are expired, so they load on first use."""

    keys: tuple[str, ...]
    columns: tuple[Any, ...]
    primary_key: tuple[int, ...]  # positions of the primary key's columns

    def values(self, row: Any, start: int = 0) -> dict[str, Any] | None:
        """The attribute values at `row[start:]`; None when the primary key is NULL (an outer join
        that found nothing)."""
        values = row[start:start + len(self.keys)]
        if any(values[position] is None for position in self.primary_key):
            return None
        return dict(zip(self.keys, values, strict=True))


def columns_of(model: type[Any], *names: str) -> Columns:
    """The mapped columns of `model` named (all of them, in mapper order, when none are)."""
    mapper = inspect(model)
    attrs = [attr for attr in mapper.column_attrs if not names or attr.key in names]
    primary = {mapper.get_property_by_column(column).key for column in mapper.primary_key}
    keys = tuple(attr.key for attr in attrs)
    return Columns(keys, tuple(attr.columns[0] for attr in attrs),
                   tuple(position for position, key in enumerate(keys) if key in primary))


def loaded_instance(model: type[M], values: dict[str, Any]) -> M:
    """`model` holding `values` as if a query had just loaded them, in this request's session: the
    instance the session already holds for that primary key, or a new one added to it with
    nothing to flush. Changes to it are flushed as to any loaded object; attributes not in
    `values` load on first use."""
    mapper = inspect(model)
    session = db.session()
    key = mapper.identity_key_from_primary_key(
        tuple(values[mapper.get_property_by_column(column).key] for column in mapper.primary_key))
    existing = session.identity_map.get(key)
    if existing is not None:
        return existing
    instance = detached_instance(model, values)
    session.add(instance)
    return instance


def detached_instance(model: type[M], values: dict[str, Any]) -> M:
    """`model` holding `values` as loaded, in no session: a read-only snapshot for the token path,
    which reads a row and never changes it. Reading an attribute not in `values` raises
    `DetachedInstanceError` (loudly, never a silent None), and a change to it is never flushed.

    Public API only: the mapper's class manager makes the instance without running the mapped
    constructor (whose attribute events cost more than the statement on the token path), the
    values go into its `InstanceState.dict` as a load puts them, and `make_transient_to_detached`
    marks them committed, gives the instance its identity and expires the rest."""
    instance: M = inspect(model).class_manager.new_instance()
    inspect(instance).dict.update(values)
    make_transient_to_detached(instance)
    return instance
