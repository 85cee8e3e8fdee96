"""What an HTTP server may do to a response that a static file's bytes must survive: encode it
(gzip, deflate) though asked not to, ask to be left alone for a while (Retry-After), answer with
an HTML page, redirect elsewhere, drip its reply's head. `genekb.store.remote_io` reads through
these."""

from __future__ import annotations

import contextlib
import email.utils
import http.client
import re
import socket
import threading
import time
import urllib.parse
import urllib.request
import zlib
from typing import Any

from genekb.store.remote_urls import RemoteError, said, shown

# Content-Encoding -> zlib's wbits: gzip's header, zlib's (deflate as RFC 9110 means it).
DECODABLE = {"gzip": 31, "x-gzip": 31, "deflate": 15}
CHUNK = 1 << 20


def retry_after(value: str | None) -> float | None:
    """Seconds a Retry-After header asks for (a number or an HTTP date); None if it names none."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.replace(".", "", 1).isdigit():  # seconds ("2"; "1.5" leniently)
        return min(float(value), 1e9)  # "9" * 400 is no wait to print as "inf"
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return min(max(0.0, when.timestamp() - time.time()), 1e9)


def range_start(response: Any, asked: int) -> int:
    """The first byte a 206 reply sends, as its Content-Range says (`asked` where it says none,
    as a server that honours Range may). One that answers `Range: bytes=N-` with 206 and the
    whole file sent bytes a resumed file cannot follow on from: it was refused as "the index
    does not match its files"."""
    found = re.fullmatch(
        r"\s*bytes\s+(\d+)-\d+/(?:\d+|\*)\s*", response.headers.get("Content-Range") or ""
    )
    return int(found[1]) if found else asked


def encoding_of(response: Any, where: str) -> str:
    """The response's Content-Encoding ("" for none); RemoteError for one genekb cannot undo."""
    encoding = (response.headers.get("Content-Encoding") or "").strip().lower()
    if encoding in ("", "identity") or encoding in DECODABLE:
        return "" if encoding == "identity" else encoding
    response.close()
    shown = "".join(c if c.isprintable() else "?" for c in encoding)[:40]
    raise RemoteError(
        f"{where}: the server sends it encoded as {shown!r}, which genekb does not read; serve"
        " the remote's files as they are (no Content-Encoding)"
    )


def is_html(response: Any, name: str) -> bool:
    """A page where a file should be: a login, error or directory page answered with 200. Its
    type says so and its first bytes agree (a server that calls every unknown file HTML still
    serves a Parquet file's "PAR1", a manifest's "{")."""
    kind = (response.headers.get("Content-Type") or "").strip().lower()
    if not kind.startswith(("text/html", "application/xhtml")) or name.endswith(".html"):
        return False
    peek = getattr(response, "peek", None)  # buffered: what is read here is read again later
    return peek is None or peek(64).lstrip()[:1] == b"<"


class Decoded:
    """A gzip- or deflate-encoded response read as its decoded bytes, `read1` as urllib's
    response has it; each call decodes at most `n` bytes, so a small body that unpacks to
    gigabytes never sits in memory whole (the caller stops at the size the index states)."""

    status = 200  # the whole file: a range of encoded bytes is never decoded
    headers: dict[str, str] = {}  # noqa: RUF012 - its Content-Length is the encoded body's

    def __init__(self, response: Any, encoding: str, where: str) -> None:
        self._response, self._where = response, where
        self._z = zlib.decompressobj(DECODABLE[encoding])

    def read1(self, n: int = CHUNK) -> bytes:
        while True:
            raw = self._z.unconsumed_tail or self._response.read1(CHUNK)
            if not raw:
                if not self._z.eof:  # the body ended inside the encoded stream: cut short
                    raise ConnectionError("the connection ended inside the encoded body")
                return b""
            try:
                out = self._z.decompress(raw, n)
            except zlib.error as exc:
                raise RemoteError(
                    f"{self._where}: its encoded body is damaged ({exc}); refused"
                ) from None
            if out or self._z.eof:
                return out

    read = read1

    def close(self) -> None:
        self._response.close()

    def __enter__(self) -> Decoded:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class BadRedirect(RemoteError):
    """A redirect to no http(s) URL, or to nowhere: the caller names the file it asked for."""


class HttpRedirects(urllib.request.HTTPRedirectHandler):
    """urllib's redirects, to http(s) URLs only: it followed one to ftp:// (to any host, in
    the clear), and a Location it could not parse ("http://[::1") escaped as a bare ValueError."""

    def http_error_302(self, req: Any, fp: Any, code: int, msg: str, headers: Any) -> Any:
        target = headers.get("location") or headers.get("uri") or ""
        if not target.strip():  # urllib passed it on as a bare "HTTP 302 Found"
            raise BadRedirect(
                f"the server redirects it (HTTP {code}) without saying where (no Location"
                " header); check the remote's URL, or ask the server's keeper to serve the file"
            )
        try:
            what = "no http(s) URL"
            scheme = urllib.parse.urlsplit(target).scheme.lower()
        except ValueError:
            what, scheme = "not a valid URL", "?"
        if scheme not in ("http", "https", ""):
            raise BadRedirect(
                f"the server redirects it to {said(shown(target))[:120]!r}, which is {what};"
                " check the remote's URL and its server"
            )
        return super().http_error_302(req, fp, code, msg, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


class _HeadInTime:
    """A connection whose reply's head (status line and headers) must arrive within its timeout.
    The socket's timeout fires only when nothing comes: a server that drips its headers a byte
    at a time held a pull forever, however short --timeout was (the body's pace is checked by
    `genekb.store.remote_io`)."""

    timeout: Any
    sock: Any

    def getresponse(self) -> Any:
        late = threading.Event()

        def cut() -> None:
            late.set()
            with contextlib.suppress(OSError, AttributeError):
                self.sock.shutdown(socket.SHUT_RDWR)

        wait = self.timeout if isinstance(self.timeout, (int, float)) else None
        timer = threading.Timer(wait, cut) if wait else None
        if timer is not None:
            timer.daemon = True
            timer.start()
        try:
            response = super().getresponse()  # type: ignore[misc]
        except (OSError, http.client.HTTPException):
            if late.is_set():
                raise TimeoutError(f"its reply's head took over {wait:g} s") from None
            raise
        finally:
            if timer is not None:
                timer.cancel()
        if late.is_set():  # the head ended where the socket was shut: not the server's whole head
            response.close()
            raise TimeoutError(f"its reply's head took over {wait:g} s")
        return response


class _HTTP(_HeadInTime, http.client.HTTPConnection):
    pass


class _HTTPS(_HeadInTime, http.client.HTTPSConnection):
    pass


class HeadInTimeHTTP(urllib.request.HTTPHandler):
    def do_open(self, http_class: Any, req: Any, **kwargs: Any) -> Any:
        return super().do_open(_HTTP, req, **kwargs)


class HeadInTimeHTTPS(urllib.request.HTTPSHandler):
    def do_open(self, http_class: Any, req: Any, **kwargs: Any) -> Any:
        return super().do_open(_HTTPS, req, **kwargs)


# urlopen's handlers, but these redirects and connections
OPENER = urllib.request.build_opener(HttpRedirects, HeadInTimeHTTP, HeadInTimeHTTPS)
