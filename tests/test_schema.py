"""Migrations are the only way the schema is made, and they agree with the models."""

from idp.db import db
from idp.schema import drift


def test_models_and_migrations_agree(app, database) -> None:  # type: ignore[no-untyped-def]
    differences = drift(db.engine)
    assert differences == [], f"on {database}: models and migrations differ: {differences}"
