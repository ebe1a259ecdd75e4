"""Fixtures of the mail tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from jinja2 import ChoiceLoader, DictLoader


@pytest.fixture
def extra_templates(app: Flask) -> Iterator[DictLoader]:
    """Templates a test adds (a language, a tenant's override) in front of the shipped ones."""
    loader = DictLoader({})
    original = app.jinja_env.loader
    app.jinja_env.loader = ChoiceLoader([loader, original])  # type: ignore[list-item]
    app.jinja_env.cache = {}
    yield loader
    app.jinja_env.loader = original
    app.jinja_env.cache = {}
