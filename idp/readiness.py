"""Is this node ready for traffic: the database answers and its schema is at the migrations' head
(`GET /readyz`). Also where Alembic is told where the migrations are (idp/schema.py applies them)."""

from __future__ import annotations

from functools import lru_cache

from alembic.config import Config as AlembicConfig
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.exc import SQLAlchemyError

from idp.config import PROJECT_ROOT
from idp.db import db


def alembic_config(url: str | None = None) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


@lru_cache(maxsize=1)
def head_revision() -> str | None:
    """The newest migration this code brings (read once: the files do not change under a process)."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def not_ready_because() -> dict[str, str]:
    """Empty when ready; else what is wrong, by part ("database", "migrations"), in plain words
    that name no secret (not the database URL)."""
    try:
        with db.engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
    except SQLAlchemyError as exc:
        cause = getattr(exc, "orig", None) or exc
        return {"database": f"unreachable ({type(cause).__name__})"}
    head = head_revision()
    if current != head:
        return {"migrations": f"the schema is at {current or 'nothing'}, this code needs {head}: run `idp db upgrade`"}
    return {}
