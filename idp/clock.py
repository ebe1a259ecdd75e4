"""The time source. Services ask the clock, so tests travel in time instead of sleeping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import Flask, current_app


class Clock:
    """Wall-clock UTC time, shifted by `offset` (zero outside tests)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, delta: timedelta) -> None:
        self.offset += delta


def init_app(app: Flask) -> None:
    app.extensions["idp.clock"] = Clock()


def now() -> datetime:
    clock: Clock = current_app.extensions["idp.clock"]
    return clock.now()
