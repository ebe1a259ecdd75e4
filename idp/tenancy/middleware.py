"""WSGI middleware that resolves the tenant before Flask sees the request.

For the path form it moves `/a/{account}` into SCRIPT_NAME, so every view is written once at
its tenant-relative path and `url_for` produces the right prefix for either form.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from werkzeug.utils import redirect
from werkzeug.wrappers import Response

from idp.tenancy.routing import UnknownHost, resolve

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

    from idp.config import Config

ROUTE_KEY = "idp.route"
# A node's own endpoints: answered at the root whatever Host the load balancer's probe or the
# scraper sends (often the node's address, not the public one).
NODE_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


class TenantRouter:
    def __init__(self, app: WSGIApplication, config: Config) -> None:
        self.app = app
        self.config = config

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        host = environ.get("HTTP_HOST") or f"{environ['SERVER_NAME']}:{environ['SERVER_PORT']}"
        if environ.get("PATH_INFO") in NODE_PATHS and environ.get("SCRIPT_NAME", "") == "":
            # Read as the platform root, whatever Host was sent; Flask sees the public host too (a
            # malformed one, e.g. a 300-character label, makes Werkzeug's URL adapter raise).
            host = environ["HTTP_HOST"] = self.config.public_host
        result = resolve(
            host,
            environ.get("PATH_INFO", "") or "/",
            public_url=self.config.public_url,
            public_host=self.config.public_host,
            public_path=self.config.public_path,
            public_scheme=self.config.public_scheme,
            base_domain=self.config.base_domain,
        )
        if isinstance(result, UnknownHost):
            return self._unknown_host(environ, start_response)
        environ[ROUTE_KEY] = result
        if result is not None:
            environ["SCRIPT_NAME"] = result.script_name
            environ["PATH_INFO"] = result.path_info
        return self.app(environ, start_response)

    def _unknown_host(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """Send people who typed another name for this server to the configured one."""
        if environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            response = redirect(self.config.public_url + "/", code=302)
        else:
            response = Response("Unknown host.\n", status=400, mimetype="text/plain")
        return response(environ, start_response)
