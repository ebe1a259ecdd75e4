"""A real SAML 2.0 identity provider for the tests: pysaml2's IdP side (`saml2.server.Server`) with
its own key, served over HTTP on loopback. Not Portcullis code: this file only wires it up.

`answer_next(...)` says how it answers the next AuthnRequest: the person (NameID, email), and a
fault to test (unsigned, signed by another key, expired, another audience or recipient,
unsolicited). Its SSO endpoint answers with the auto-posting form a browser would get.
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, make_server

from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.config import IdPConfig
from saml2.metadata import create_metadata_string
from saml2.saml import AUTHN_PASSWORD, NAME_FORMAT_URI, NAMEID_FORMAT_PERSISTENT, NameID
from saml2.server import Server

from idp.federation.saml import XMLSEC, new_key_pair

FAULTS = ("unsigned", "other-key", "expired", "wrong-audience", "wrong-recipient", "unsolicited")


@dataclass
class Answer:
    name_id: str = "saml-person-1"
    email: str | None = "dana@acme-gyms.example"
    fault: str | None = None


@dataclass
class SamlIdp:
    base: str
    workdir: Path
    sp_metadata: str | None = None
    answer: Answer = field(default_factory=Answer)
    last_form: dict[str, str] = field(default_factory=dict)

    def answer_next(self, **kwargs: Any) -> None:
        self.answer = Answer(**kwargs)

    def _server(self, key: str = "idp", lifetime_minutes: int = 15) -> Server:
        config = IdPConfig()
        config.load({
            "entityid": f"{self.base}/metadata",
            "xmlsec_binary": XMLSEC,
            "key_file": str(self.workdir / f"{key}.key"),
            "cert_file": str(self.workdir / f"{key}.crt"),
            "metadata": {"inline": [self.sp_metadata]} if self.sp_metadata else {},
            "service": {"idp": {
                "endpoints": {"single_sign_on_service": [(f"{self.base}/sso/redirect", BINDING_HTTP_REDIRECT)]},
                "name_id_format": [NAMEID_FORMAT_PERSISTENT],
                "policy": {"default": {"lifetime": {"minutes": lifetime_minutes}, "attribute_restrictions": None,
                                       "name_form": NAME_FORMAT_URI}},
            }},
        })
        return Server(config=config)

    @property
    def metadata(self) -> str:
        document = create_metadata_string(None, config=self._server().config, sign=False)
        return document.decode() if isinstance(document, bytes) else str(document)

    def sso(self, query: str) -> str:
        """The SSO endpoint: parse the AuthnRequest, answer with an auto-posting HTML form."""
        params = {key: values[0] for key, values in parse_qs(query).items()}
        answer, self.answer = self.answer, Answer()
        server = self._server(key="other" if answer.fault == "other-key" else "idp",
                              lifetime_minutes=-10 if answer.fault == "expired" else 15)
        request = server.parse_authn_request(params["SAMLRequest"], BINDING_HTTP_REDIRECT).message
        acs = request.assertion_consumer_service_url
        attributes = {"mail": [answer.email]} if answer.email else {}
        response = server.create_authn_response(
            identity=attributes,
            in_response_to=None if answer.fault == "unsolicited" else request.id,
            destination="https://elsewhere.example/acs" if answer.fault == "wrong-recipient" else acs,
            sp_entity_id="https://elsewhere.example/sp" if answer.fault == "wrong-audience" else request.issuer.text,
            name_id=NameID(format=NAMEID_FORMAT_PERSISTENT, text=answer.name_id),
            authn={"class_ref": AUTHN_PASSWORD},
            sign_assertion=answer.fault != "unsigned", sign_response=False,
        )
        http_args = server.apply_binding(BINDING_HTTP_POST, str(response), destination=acs,
                                         relay_state=params.get("RelayState", ""), response=True)
        return str(http_args["data"])


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        pass


def running_idp() -> Iterator[SamlIdp]:
    with tempfile.TemporaryDirectory(prefix="saml-idp-") as directory:
        workdir = Path(directory)
        for name in ("idp", "other"):
            key, cert = new_key_pair(f"test {name}")
            (workdir / f"{name}.key").write_text(key)
            (workdir / f"{name}.crt").write_text(cert)
        holder: dict[str, SamlIdp] = {}

        def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
            idp = holder["idp"]
            if environ["PATH_INFO"] == "/metadata":
                start_response("200 OK", [("Content-Type", "application/samlmetadata+xml")])
                return [idp.metadata.encode()]
            if environ["PATH_INFO"] == "/sso/redirect":
                page = idp.sso(environ.get("QUERY_STRING", ""))
                start_response("200 OK", [("Content-Type", "text/html")])
                return [page.encode()]
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found"]

        server = make_server("127.0.0.1", 0, app, handler_class=_Quiet)
        holder["idp"] = SamlIdp(f"http://127.0.0.1:{server.server_port}", workdir)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield holder["idp"]
        finally:
            server.shutdown()
            server.server_close()
