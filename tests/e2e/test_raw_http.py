"""Malformed HTTP at a live `idp serve`: what a test client cannot send.

Hypothesis writes raw requests onto a socket: bytes above 0x7f and NULs in the request target
and in header values, percent-escapes that are not UTF-8, odd Host headers (both issuer forms,
unknown tenants, ports out of range), wrong and contradictory Content-Length, chunked bodies,
junk Authorization and Cookie headers. Whatever the server answers must be below 500, and its
log must hold no traceback. A request the HTTP server itself rejects may get no answer at all
(the connection closes), which is fine: nothing reached the application.
"""

from __future__ import annotations

import re
import socket

from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from tests.e2e.support import SWIM, IdpServer

EXAMPLES = 150
STATUS_LINES = re.compile(rb"(?m)^HTTP/1\.[01] (\d{3}) ")
PATHS = ["/login", "/authorize", "/token", "/userinfo", "/revoke", "/introspect", "/register", "/end-session",
         "/.well-known/openid-configuration", "/jwks", "/forgot-password", "/reset-password/x", "/api/v1/users",
         "/api/v1/business", "/static/portcullis.css", "/healthz", "/", "/lookup"]
JUNK = [b"", b"%", b"%zz", b"%ff%fe", b"%00", b"\x00", b"\xff", b"\xc3\xa9", b"..", b"//", b"/../../etc/passwd",
        b";x=1", b"?", b"??", b"#frag", b"%2F", b" ", b"\t", b"a" * 3000]


def _target(draw: st.DrawFn, server: IdpServer, host_form: bool) -> bytes:
    path = draw(st.sampled_from(PATHS)).encode()
    prefix = b"" if host_form else f"/a/{draw(st.sampled_from([SWIM, 'no-such', SWIM.upper(), '']))}".encode()
    junk = draw(st.lists(st.sampled_from(JUNK) | st.binary(max_size=8), max_size=3))
    query = draw(st.sampled_from([b"", b"?response_type=code&client_id=%ff", b"?a=%00", b"?=&&=", b"?x=\xff"]))
    target = prefix + path + b"".join(junk) + query
    return target if target.startswith(b"/") or draw(st.booleans()) else b"/" + target


@st.composite
def raw_requests(draw: st.DrawFn, server: IdpServer) -> bytes:
    host_form = draw(st.booleans())
    method = draw(st.sampled_from([b"GET", b"POST", b"PUT", b"DELETE", b"OPTIONS", b"HEAD", b"PATCH", b"BREW"]))
    version = draw(st.sampled_from([b"HTTP/1.1", b"HTTP/1.1", b"HTTP/1.0"]))
    hosts = [f"{SWIM}.localhost:{server.port}", f"127.0.0.1:{server.port}", "", "\xe9vil.localhost",
             f"{SWIM}.localhost:99999", "x" * 300, f"{SWIM.upper()}.LOCALHOST:{server.port}", "[::1]", "a..b"]
    host = draw(st.sampled_from(hosts)).encode("latin-1") if host_form else f"127.0.0.1:{server.port}".encode()
    body = draw(st.sampled_from([b"", b"grant_type=client_credentials", b'{"email": "a@b.c"}', b"[" * 3000])
                | st.binary(max_size=64))
    headers = [b"Host: " + host, b"Connection: close"]
    framing = draw(st.sampled_from(["length", "length", "short", "none", "chunked", "bad-chunked", "both", "junk"]))
    if framing == "length":
        headers.append(b"Content-Length: %d" % len(body))
    elif framing == "short":
        headers.append(b"Content-Length: %d" % (len(body) // 2))
    elif framing == "chunked":
        headers.append(b"Transfer-Encoding: chunked")
        body = (b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)) if body else b"0\r\n\r\n"
    elif framing == "bad-chunked":
        headers.append(b"Transfer-Encoding: chunked")
        body = b"zz\r\n" + body + b"\r\n"
    elif framing == "both":
        headers += [b"Content-Length: %d" % len(body), b"Transfer-Encoding: chunked"]
        body = b"0\r\n\r\n"
    elif framing == "junk":
        headers.append(b"Content-Length: " + draw(st.sampled_from([b"-1", b"abc", b"1e3", b"", b"0x10", b"\xff"])))
    ctype = draw(st.sampled_from([None, b"application/x-www-form-urlencoded", b"application/json",
                                  b"multipart/form-data; boundary=\xff", b"text/plain; charset=\xe9"]))
    if ctype is not None:
        headers.append(b"Content-Type: " + ctype)
    extra = draw(st.lists(st.sampled_from([
        b"Authorization: Basic //46/w==", b"Authorization: Bearer \xff\xfe", b"Authorization: \x00",
        b"Cookie: portcullis_session=\xff; portcullis_csrf=%00", b"Cookie: ;;;==;",
        b"Origin: https://rp.example", b"Origin: \xe9", b"Accept-Language: \xff", b"Accept: application/json",
        b"X-Forwarded-For: ::::", b"X-Forwarded-Host: evil.example", b"X-Forwarded-Proto: gopher",
        b"Expect: 100-continue", b"Range: bytes=0-0", b"If-None-Match: *",
    ]), max_size=4, unique=True))
    headers += extra
    return method + b" " + _target(draw, server, host_form) + b" " + version + b"\r\n" + b"\r\n".join(headers) \
        + b"\r\n\r\n" + body


def send(server: IdpServer, raw: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        try:
            sock.sendall(raw)
            sock.shutdown(socket.SHUT_WR)
        except OSError:  # the server answered and closed before all of it was sent: read that answer
            pass
        chunks = []
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        except (ConnectionResetError, TimeoutError):
            pass
    return b"".join(chunks)


def test_malformed_http_never_gets_a_5xx_or_a_traceback(idp_server: IdpServer) -> None:
    answered = []

    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(raw=raw_requests(idp_server))
    def one(raw: bytes) -> None:
        note(repr(raw[:600]))
        answer = send(idp_server, raw)
        statuses = [int(code) for code in STATUS_LINES.findall(answer)]  # a 100 Continue, then the answer
        if statuses:
            answered.append(statuses[-1])
            assert max(statuses) < 500, answer[:1500]
            assert b"Traceback" not in answer

    one()
    assert len(answered) > EXAMPLES // 2, "most requests reach the application and get an answer"
    log = idp_server.log()
    assert "Traceback" not in log and "unhandled error" not in log, log[-5000:]
