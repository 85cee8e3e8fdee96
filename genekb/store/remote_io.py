"""Moving a remote's files: HTTP(S) through the standard library, every other URL through fsspec.

A remote is a base URL under which a published store lies (`genekb.store.publish`). HTTP goes
through `urllib` rather than fsspec's aiohttp filesystem so that each request has its own timeout,
a partial download resumes with a `Range` request, and a retry is ours to count and pace. Any
other URL (`file://`, a plain path, `s3://`, `gs://`, ...) goes through fsspec; only HTTP is
read-only; writing (`genekb publish`) is `genekb.store.remote_write`'s, a mixin of `Remote`.

Failures that may pass (a dropped connection, a timeout, a 5xx) are retried with exponential
backoff; one that will not (a 404, a refused permission) fails at once. Either way the error is a
`GenekbError` with one line naming the URL and what to do.
"""

from __future__ import annotations

import errno
import http.client
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from genekb.errors import UsageError
from genekb.fileio import is_stdin, open_regular
from genekb.store.remote_http import (
    OPENER,
    BadRedirect,
    Decoded,
    encoding_of,
    is_html,
    range_start,
    retry_after,
)
from genekb.store.remote_urls import (
    HTTP,
    REFUSED,
    Busy,
    CutShort,
    NotFound,
    RemoteError,
    checked_url,
    http_parts,
    no_credentials_errors,
    open_fs,
    reason,
    refusal,
    said,
    shown,
    transient_errors,
)
from genekb.store.remote_write import RemoteWriter

Progress = Callable[[int], None]  # called with the bytes of each chunk as it arrives
CHUNK = 1 << 20
# Local write errors that a retry cannot mend (read-only file system, no space, over quota).
LASTING_ERRNOS = frozenset({errno.EROFS, errno.ENOSPC, errno.EDQUOT})
# The longest wait for a remote a socket takes is some 30 years (a platform time_t); a day is
# beyond any transfer's silence. Retries wait twice as long each time, up to MAX_BACKOFF_S.
MIN_TIMEOUT_S, MAX_TIMEOUT_S = 0.1, 86_400.0
MAX_BACKOFF_S = 60.0
MIN_RATE = 1024  # bytes a second, over each `timeout` window; slower is a stalled transfer
# What to do about a refusal of access: the status alone said nothing of it.
ACCESS_HINTS = {
    401: "; the server asks for credentials: put them in the URL (https://USER:PASSWORD@HOST/…)"
    " or the token it takes (…?token=TOKEN)",
    403: "; the server refuses access: check the URL, and the credentials or token in it",
}
# What http.client raises for a reply that does not begin with an HTTP status line.
NOT_HTTP = (http.client.BadStatusLine, http.client.UnknownProtocol, http.client.LineTooLong)
RETRIES = 4  # per request, pull's and publish's alike: after 0.5 s, 1 s, 2 s, 4 s (`backoff`)


class Remote(RemoteWriter):
    """A remote's files by name relative to its base URL, with timeouts, retries and counters."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 30.0,
        retries: int = RETRIES,
        backoff: float = 0.5,
        progress: Progress | None = None,
    ) -> None:
        if not isinstance(url, str) or not url.strip():
            raise UsageError("a remote is a URL or a folder, not an empty name")
        if is_stdin(url):  # published into, or pulled from, a folder named `-`
            raise UsageError("a remote is a URL or a folder, not - (stdin or stdout); give one")
        real = checked_url(url)
        self.url = shown(real)  # what messages and reports say: no password, no token
        if not MIN_TIMEOUT_S <= timeout <= MAX_TIMEOUT_S:  # nan too
            raise UsageError(
                f"timeout={timeout:g} is no wait for a remote; give {MIN_TIMEOUT_S:g} to"
                f" {MAX_TIMEOUT_S:,.0f} seconds (a day)"
            )
        self.timeout, self.retries, self.backoff = timeout, retries, backoff
        self.progress = progress
        self.fetched_bytes = 0
        self.requests = 0
        self.is_http = real.lower().startswith(HTTP)
        self._fs: Any = None
        self._base = ""
        self._http_base, self._query, self._auth = (
            http_parts(real) if self.is_http else ("", "", None)
        )
        if not self.is_http:
            self._fs, self._base = open_fs(real, timeout)

    def where(self, name: str) -> str:
        head, question, query = self.url.partition("?")  # the name goes before a query
        return f"{head}/{name}{question}{query}"

    # ---- reading -------------------------------------------------------------------------------

    def read(self, name: str, limit: int = 64 << 20) -> bytes:
        """A small file's bytes (the index, a manifest), at most `limit` of them."""
        return self._retrying(name, lambda: self._read_once(name, limit))

    def fetch(self, name: str, dest: Path, size: int | None = None) -> None:
        """Download `name` into `dest`, resuming a partial `dest` where the server allows it.

        `dest` holds the bytes received so far whatever happens: a rerun continues from there.
        The caller checks the whole file's sha256.
        """
        self._retrying(name, lambda: self._fetch_once(name, dest, size))

    def _retrying(self, name: str, attempt: Callable[[], Any]) -> Any:
        transient, no_credentials = transient_errors(), no_credentials_errors()
        for n in range(self.retries + 1):
            try:
                return attempt()
            except RemoteError:
                raise
            except no_credentials as exc:
                raise RemoteError(
                    f"{self.where(name)}: no credentials for it ({reason(exc)}); set"
                    " AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE"
                ) from None
            except REFUSED as exc:
                raise refusal(self.where(name), exc) from None  # no retry mends these
            except transient as exc:
                wait = min(self.backoff * 2 ** min(n, 32), MAX_BACKOFF_S)
                if isinstance(exc, Busy) and exc.wait is not None:
                    if exc.wait > MAX_BACKOFF_S:  # asked again sooner, it answers the same
                        raise CutShort(
                            f"{self.where(name)}: {reason(exc)}, and the server asks to be left"
                            f" alone for {exc.wait:,.0f} s; run the command again then"
                            " (verified files are kept)"
                        ) from None
                    wait = exc.wait  # the server's word, not our guess
                if isinstance(exc, OSError) and exc.errno in LASTING_ERRNOS:
                    # A read-only or full disk where the files go: no retry mends it.
                    raise CutShort(
                        f"{self.where(name)}: {exc.strerror or exc}; free space or give a"
                        " writable place, then run the command again (verified files are kept)"
                    ) from None
                if n == self.retries:
                    raise CutShort(
                        f"{self.where(name)}: {reason(exc)} (after {n + 1} tries); check the "
                        "remote and run the command again (verified files are kept)"
                    ) from None
                time.sleep(wait)
        raise AssertionError("unreachable")

    def _open_http(self, name: str, start: int = 0) -> Any:
        """The response for `name` from `start`, decoded if the server encoded it anyway; None
        for a 416 past a whole partial file."""
        response = self._request(name, start)
        if response is None:
            return None
        if is_html(response, name):  # a 200 with an error or login page: no retry mends it
            response.close()
            raise RemoteError(
                f"{self.where(name)}: the server sends an HTML page (an error or login page?)"
                " where a genekb file should be; check the URL and the server's access rules"
            )
        encoding = encoding_of(response, self.where(name))
        if encoding and start and response.status == 206:  # a range of the encoded bytes
            response.close()
            response = self._request(name, 0)
            encoding = encoding_of(response, self.where(name))
        return Decoded(response, encoding, self.where(name)) if encoding else response

    def _request(self, name: str, start: int) -> Any:
        request = urllib.request.Request(f"{self._http_base}/{name}{self._query}")
        request.add_header("Accept-Encoding", "identity")  # the file's own bytes, as hashed
        if self._auth:  # not sent on to where a redirect points
            request.add_unredirected_header("Authorization", self._auth)
        if start:
            request.add_header("Range", f"bytes={start}-")
        self.requests += 1
        try:
            return OPENER.open(request, timeout=self.timeout)
        except BadRedirect as exc:
            raise RemoteError(f"{self.where(name)}: {exc}") from None
        except NOT_HTTP as exc:
            closed = isinstance(exc, ConnectionError)  # RemoteDisconnected: closed, retried
            if closed or (isinstance(exc, http.client.LineTooLong) and "status" not in str(exc)):
                raise
            # Another service's port, or TLS where HTTP was asked: no retry mends it, and the
            # reply's bytes (binary, escapes) are no part of a line to print.
            raise RemoteError(
                f"{self.where(name)}: the server's reply is not HTTP; check the URL's scheme"
                " (http:// or https://) and port"
            ) from None
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                raise NotFound(
                    f"{self.where(name)}: not found on the remote (HTTP 404); its index lists a "
                    "file it does not serve: ask its publisher to publish again"
                ) from None
            if exc.code == 416 and start:
                return None  # nothing past `start`: the partial file is already whole
            if exc.code >= 500 or exc.code == 429:
                wait = retry_after(exc.headers.get("Retry-After"))
                raise Busy(f"HTTP {exc.code}", wait) from None
            hint = ACCESS_HINTS.get(exc.code, "")
            raise RemoteError(
                f"{self.where(name)}: HTTP {exc.code} {said(exc.reason)}{hint}"
            ) from None

    def _open_file(self, name: str) -> Any:
        """A remote file that is no HTTP URL. In a local folder only a regular file is opened
        (`open_regular`): a FIFO put where a file should be blocked the read forever, and a
        device never ends."""
        self.requests += 1
        if self._is_local():
            return os.fdopen(open_regular(Path(self._path(name))), "rb")
        return self._fs.open(self._path(name), "rb")

    def _chunks(self, source: Any) -> Iterator[bytes]:
        """`source`'s bytes as they arrive. A socket timeout fires only when nothing comes: a
        server that drips a byte a second never trips it and held a pull forever. So each
        window of `timeout` seconds must also bring MIN_RATE bytes a second; a slower one is a
        stall, retried like a timeout (what arrived is kept and resumed from)."""
        read = getattr(source, "read1", source.read)  # read1: what arrived, not a full CHUNK
        window, got = time.monotonic(), 0
        while chunk := read(CHUNK):
            yield chunk
            got += len(chunk)
            elapsed = time.monotonic() - window
            if elapsed >= self.timeout:
                if got < MIN_RATE * elapsed:
                    raise ConnectionError(
                        f"the remote sends under {MIN_RATE:,} bytes a second ({got:,} in"
                        f" {elapsed:.1f} s)"
                    )
                window, got = time.monotonic(), 0

    def _read_once(self, name: str, limit: int) -> bytes:
        source = self._open_http(name) if self.is_http else self._open_file(name)
        data = bytearray()
        with source:
            for chunk in self._chunks(source):
                data += chunk
                if len(data) > limit:
                    break
        if len(data) > limit:
            raise RemoteError(f"{self.where(name)}: larger than {limit:,} bytes; not a genekb file")
        length = source.headers.get("Content-Length", "") if self.is_http else ""
        if length.isdigit() and len(data) < int(length):  # dropped in passing: retried
            total = int(length)
            raise ConnectionError(f"the connection ended after {len(data):,} of {total:,} bytes")
        self.fetched_bytes += len(data)
        return bytes(data)

    def _fetch_once(self, name: str, dest: Path, size: int | None) -> None:
        start = dest.stat().st_size if dest.exists() else 0
        if size is not None and start > size:
            dest.unlink()  # longer than the file can be: not a prefix of it
            start = 0
        if size is not None and start == size:
            return
        if self.is_http:
            response = self._open_http(name, start)
            if response is None:
                return
            sent_from = range_start(response, start) if response.status == 206 else 0
            if start and sent_from != start:  # Range ignored (a 200, or a 206 from 0): start over
                if sent_from != 0:  # from elsewhere: ask for the whole file
                    response.close()
                    response = self._open_http(name, 0)
                start = 0
            self._check_length(name, response, start, size)
            source: Any = response
        else:
            source = self._open_file(name)
            source.seek(start)
        with source, dest.open("r+b" if start else "wb") as out:
            out.seek(start)
            out.truncate()
            for chunk in self._chunks(source):
                if size is not None and out.tell() + len(chunk) > size:
                    raise RemoteError(
                        f"{self.where(name)}: sends more than the {size:,} bytes its index "
                        "states; refused"
                    )
                out.write(chunk)
                self.fetched_bytes += len(chunk)
                if self.progress:
                    self.progress(len(chunk))
            out.flush()
            os.fsync(out.fileno())
        got = dest.stat().st_size
        if size is not None and got < size and not self.is_http:  # a file's end is final
            raise RemoteError(
                f"{self.where(name)}: holds {got:,} of the {size:,} bytes the remote's index"
                " states (cut short); refused: ask its publisher to publish again"
            )
        if size is not None and got < size:
            raise ConnectionError(f"the connection ended after {got:,} of {size:,} bytes")

    def _check_length(self, name: str, response: Any, start: int, size: int | None) -> None:
        """A server that announces a whole file of another size than the index states serves
        other files than it indexes: no retry mends that (a dropped connection announces the
        right size and sends less)."""
        length = response.headers.get("Content-Length", "")
        if size is None or not length.isdigit() or start + int(length) == size:
            return
        response.close()
        raise RemoteError(
            f"{self.where(name)}: the server sends {start + int(length):,} bytes where the"
            f" remote's index states {size:,}; the index does not match its files: ask its"
            " publisher to publish again"
        )
