"""`GET /metrics`: Prometheus exposition at the root of every node, for a scraper holding
IDP_METRICS_TOKEN (off, a 404, when it is not set). Queue depths are read from the database at
each scrape; everything else is counted as it happens (idp/metrics.py)."""

from __future__ import annotations

from collections.abc import Iterator

from flask import Blueprint, Response, current_app, g, request
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from idp import clock, metrics
from idp.crypto import constant_time_equals
from idp.db import db
from idp.errors import InvalidToken, NotFound
from idp.mail.models import PENDING, OutboxMessage
from idp.oauth.models import LogoutDelivery
from idp.web.errors import answers_json

bp = Blueprint("operations", __name__)


class Queues(Collector):
    """The mail outbox's depth and oldest age, and the back-channel logout queue's depth."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        depth, oldest = db.session.execute(select(func.count(), func.min(OutboxMessage.created_at)).where(
            OutboxMessage.status == PENDING)).one()
        logouts = db.session.execute(select(func.count()).select_from(LogoutDelivery).where(
            LogoutDelivery.delivered_at.is_(None))).scalar_one()
        yield GaugeMetricFamily("portcullis_mail_outbox_depth", "Messages waiting to be sent", value=depth)
        age = (clock.now() - oldest).total_seconds() if oldest is not None else 0.0
        yield GaugeMetricFamily("portcullis_mail_outbox_oldest_seconds", "Age of the oldest waiting message",
                                value=max(age, 0.0))
        yield GaugeMetricFamily("portcullis_backchannel_logout_queue_depth", "Logout tokens not yet delivered",
                                value=logouts)


@bp.get("/metrics")
@answers_json
def exposition() -> Response:
    if g.get("tenant") is not None:  # at the root only: never a tenant's address
        raise NotFound()
    expected = current_app.config["IDP"].metrics_token
    if not expected:
        raise NotFound("Metrics are off: set IDP_METRICS_TOKEN.")
    scheme, _, offered = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not constant_time_equals(offered.strip(), expected):
        raise InvalidToken("The metrics token is required.")
    return Response(metrics.scrape(Queues()), content_type=metrics.CONTENT_TYPE)
