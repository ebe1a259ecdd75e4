"""JSON request bodies: a JSON object or None, and never an exception out of the parser."""

from __future__ import annotations

from typing import Any

from flask import request
from flask.json.provider import DefaultJSONProvider


class JSONProvider(DefaultJSONProvider):
    """Flask's JSON, with a body nested too deeply for the parser (`[` × 5000) refused as
    malformed (ValueError, so Flask answers 400) instead of escaping as a RecursionError."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("the JSON document is nested too deeply") from None


def json_object() -> dict[str, Any] | None:
    """The request's body if it is `application/json` holding one object, else None."""
    if request.mimetype != "application/json":
        return None
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else None
