"""Alembic environment: the schema comes only from these migrations (`idp db upgrade`)."""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import create_engine, pool

import idp.models  # noqa: F401 - registers every table on the metadata
from idp.db import UTCDateTime, db

target_metadata = db.metadata


def render_item(type_: str, obj: Any, autogen_context: Any) -> Any:
    """Write our UTC column type as the plain SQLAlchemy type it stands on."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run_migrations(connection: Any) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        render_item=render_item,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    run_migrations(connection)
else:
    engine = create_engine(context.config.get_main_option("sqlalchemy.url"), poolclass=pool.NullPool)
    with engine.connect() as conn:
        run_migrations(conn)
