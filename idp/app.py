"""create_app: the only place that wires Portcullis together."""

from __future__ import annotations

import select
from typing import Any

from flask import Flask, Response, g, request
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import Pool
from werkzeug.middleware.proxy_fix import ProxyFix

from idp import clock, logs, metrics
from idp.config import PROJECT_ROOT, Config, load_config
from idp.crypto import Keyring
from idp.db import db
from idp.oauth.token_endpoint import TokenEndpoint
from idp.sessions.web import load_browser_session
from idp.signing import service as signing
from idp.tenancy import cache as tenant_cache
from idp.tenancy.context import load_tenant
from idp.tenancy.middleware import TenantRouter
from idp.web import csrf, errors
from idp.web.headers import add_security_headers
from idp.web.inputs import JSONProvider, refuse_nul_characters

# Forms here hold an email and a password; nothing legitimate comes near this size.
MAX_CONTENT_LENGTH = 64 * 1024


def create_app(config: Config | None = None, **overrides: Any) -> Flask:
    config = config or load_config()
    app = Flask(
        __name__,
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    app.config.update(
        IDP=config,
        SQLALCHEMY_DATABASE_URI=config.database_url,
        SQLALCHEMY_ENGINE_OPTIONS=_engine_options(config.database_url),
        MAX_CONTENT_LENGTH=MAX_CONTENT_LENGTH,
        MAX_FORM_MEMORY_SIZE=MAX_CONTENT_LENGTH,
    )
    app.config.update(overrides)
    app.json = JSONProvider(app)
    logs.configure(config)

    db.init_app(app)
    with app.app_context():
        metrics.watch_pool(db.engine.pool)
    clock.init_app(app)
    app.extensions["idp.keyring"] = Keyring(config.master_key)
    signing.init_app(app)
    tenant_cache.init_app(app)

    app.before_request(refuse_nul_characters)
    app.before_request(load_tenant)
    app.before_request(load_browser_session)
    app.before_request(csrf.protect)
    # after_request hooks run last-registered first: the unit of work ends before the others
    # touch the response, so a 503 from a failed commit gets the same headers and cookies.
    app.after_request(csrf.set_cookie)
    app.after_request(add_security_headers)
    app.after_request(errors.finish_unit_of_work)
    app.after_request(_route_for_the_access_log)
    app.jinja_env.globals["csrf_token"] = csrf.csrf_token
    errors.init_app(app)
    _register_blueprints(app)
    _register_sign_in_steps(app)

    token_front = TokenEndpoint(app, app.wsgi_app, max_body=MAX_CONTENT_LENGTH)
    app.wsgi_app = TenantRouter(token_front, config)  # type: ignore[method-assign]
    app.wsgi_app = logs.RequestIds(app.wsgi_app, trust_proxy=config.trust_proxy)  # type: ignore[method-assign]
    if config.trust_proxy:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)  # type: ignore[method-assign]
    return app


def _route_for_the_access_log(response: Response) -> Response:
    """The matched route's template and the tenant, for the access line written outside Flask."""
    if request.url_rule is not None:
        request.environ["idp.route_template"] = request.url_rule.rule
    route = g.get("route")  # not g.tenant: after a failed flush its attributes would need the database
    if route is not None and route.account:
        request.environ["idp.tenant"] = route.account
    return response


def _register_blueprints(app: Flask) -> None:
    from idp.api.views import bp as api_bp
    from idp.families.views import bp as families_bp
    from idp.federation.views import bp as federation_bp
    from idp.login.notice_views import bp as notices_bp
    from idp.login.views import bp as login_bp
    from idp.mfa.views import bp as mfa_bp
    from idp.oauth.server import create_server
    from idp.oauth.views import bp as oauth_bp
    from idp.operations.views import bp as operations_bp
    from idp.policies.views import bp as policies_bp
    from idp.recovery.views import bp as recovery_bp
    from idp.tenancy.views import bp as tenancy_bp

    app.register_blueprint(tenancy_bp)
    app.register_blueprint(login_bp)
    app.register_blueprint(recovery_bp)
    app.register_blueprint(federation_bp)
    app.register_blueprint(operations_bp)
    app.register_blueprint(oauth_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(mfa_bp)
    app.register_blueprint(policies_bp)
    app.register_blueprint(notices_bp)
    app.register_blueprint(families_bp)
    create_server(app)


def _register_sign_in_steps(app: Flask) -> None:
    """Second factor → terms & privacy (and family policies for primary guardians) → 18+ for
    secondary family members → the family switcher → a blocked family → notices, asked again
    before every code is issued. Families also answer for the `family` claim."""
    from idp.families import service as families
    from idp.families.steps import AdultStep, FamilyBlockedStep, FamilyChoiceStep, FamilyClaims
    from idp.login.notices import NoticesStep
    from idp.mfa.step import SecondFactorStep
    from idp.oauth import claims, interactions
    from idp.policies import service as policies
    from idp.policies.step import PoliciesStep

    interactions.init_app(app, [SecondFactorStep(), PoliciesStep(), AdultStep(), FamilyChoiceStep(),
                                FamilyBlockedStep(), NoticesStep()])
    claims.init_app(app, FamilyClaims())
    policies.init_app(app, families.policy_kinds_for)


def _engine_options(url: str) -> dict[str, Any]:
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 30}}
    # No pool_pre_ping: its round trip cost 0.1 ms of every request; `_closed_by_server` below
    # finds the connections a database restart or pg_terminate_backend ended, without one.
    return {"pool_size": 10, "max_overflow": 10}


@event.listens_for(Pool, "checkout")
def _closed_by_server(dbapi_connection: Any, connection_record: Any, connection_proxy: Any) -> None:
    """A pooled PostgreSQL connection that the server has closed is replaced before use.

    An idle connection has nothing to read; when the server ends it (restart, failover,
    pg_terminate_backend, idle timeout) it sends its last error and closes, so the socket turns
    readable. A zero-timeout poll sees that without a round trip, and the pool opens a new
    connection instead (should anything else ever arrive unasked, that costs one reconnect).
    A peer that vanished without closing is not seen; a ping would hang on it too.
    """
    if not type(dbapi_connection).__module__.startswith("psycopg"):
        return
    if dbapi_connection.closed:
        raise DisconnectionError("the connection is closed")
    poller = select.poll()
    poller.register(dbapi_connection.fileno(), select.POLLIN)
    if poller.poll(0):
        raise DisconnectionError("the database server closed this connection")


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    """SQLite: enforce foreign keys and let readers and one writer work at once."""
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()
