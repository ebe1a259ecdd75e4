"""What a request may carry before any view reads it, and JSON bodies read one way.

- A NUL character is refused wherever it comes (path, query, form, JSON): no field of ours
  means one, and PostgreSQL cannot compare or store it in text (SQLite can, so only one of the
  two databases would fail, with a 500).
- A JSON body nested too deeply for the parser (`[` × 5000) is malformed (400), not a
  RecursionError.
"""

from __future__ import annotations

from typing import Any

from flask import request
from flask.json.provider import DefaultJSONProvider

from idp.errors import InvalidInput

NUL = "\x00"
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class NulCharacter(InvalidInput):
    message = "The request holds a NUL character, which no field accepts."


class JSONProvider(DefaultJSONProvider):
    """Flask's JSON, refusing (ValueError, so Flask answers 400) what it cannot or should not
    hand to a view: too deeply nested, or holding a NUL in a key or a string."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            value = super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("the JSON document is nested too deeply") from None
        if holds_nul(value):
            raise ValueError("the JSON document holds a NUL character")
        return value


def holds_nul(value: Any) -> bool:
    """Whether a parsed JSON value has a NUL in any key or string; iterative, so any depth the
    parser took is fine."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if NUL in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def refuse_nul_characters() -> None:
    """before_request: 400 for a NUL in the path, the query string or a form body."""
    if NUL in request.path or any(NUL in key or NUL in value for key, value in request.args.items(multi=True)):
        raise NulCharacter()
    if request.method != "GET" and request.mimetype in FORM_TYPES and any(
            NUL in key or NUL in value for key, value in request.form.items(multi=True)):
        raise NulCharacter()


def json_object() -> dict[str, Any] | None:
    """The request's body if it is `application/json` holding one object, else None."""
    if request.mimetype != "application/json":
        return None
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else None
