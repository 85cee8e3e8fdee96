"""A remote's URL and its errors: which URLs name a place, the fsspec file system for one, and
which failures a retry may mend, put in one printable line (`genekb.store.remote_io` moves the
files)."""

from __future__ import annotations

import contextlib
import http.client
import socket
import urllib.error
import urllib.parse
from typing import Any

from genekb.errors import GenekbError, UsageError

HTTP = ("http://", "https://")


class RemoteError(GenekbError):
    """A remote that could not be reached or read, after the retries."""


class NotFound(RemoteError):
    """The remote lacks a file (HTTP 404, no such key or path)."""


class CutShort(RemoteError):
    """A transfer stopped by the network or the local disk, after the retries: what arrived is
    kept, and a rerun resumes it (every other RemoteError is a refusal)."""


def transient_errors() -> tuple[type[BaseException], ...]:
    """Errors worth another try: the network's, and (for s3fs) botocore's own."""
    found: list[type[BaseException]] = [OSError, http.client.HTTPException, TimeoutError]
    with contextlib.suppress(ImportError):
        from botocore.exceptions import BotoCoreError

        found.append(BotoCoreError)
    return tuple(found)


def no_credentials_errors() -> tuple[type[BaseException], ...]:
    """botocore's "no credentials" errors: a BotoCoreError like a dropped connection, but no
    retry finds credentials (it spent 7.5 s of backoff, then said to check the remote)."""
    with contextlib.suppress(ImportError):
        from botocore.exceptions import NoCredentialsError, PartialCredentialsError

        return (NoCredentialsError, PartialCredentialsError)
    return ()


def said(phrase: object) -> str:
    """A server's reason phrase as one printable line: urllib's redirect-loop reason runs over
    three lines, and the phrase is the server's to choose, escape sequences included."""
    text = str(phrase).strip()
    if "infinite loop" in text:
        return "redirects in a loop; check the URL"
    line = text.splitlines()[0] if text else ""
    return "".join(ch if ch.isprintable() else "?" for ch in line)[:200]


def checked_url(url: str) -> str:
    """`url` without its trailing slashes; UsageError for a URL that names no place. Stripping
    `http://` bare would leave `http:`, which fsspec takes for a relative folder: a publish
    would then write a store into the working directory under that name."""
    scheme, sep, rest = url.partition("://")
    if sep and not rest.strip("/"):
        raise UsageError(f"{url!r} names no host, bucket or folder after {scheme}://; give the"
                         " whole URL of the remote")  # fmt: skip
    if url.lower().startswith(HTTP):
        try:
            host = urllib.parse.urlsplit(url).hostname
        except ValueError as exc:  # an unclosed [IPv6] bracket, a port out of range
            raise UsageError(f"{url!r} is not a valid URL ({exc})") from None
        if not host:
            raise UsageError(f"{url!r} names no host; give the whole URL of the remote")
    return url.rstrip("/")


def reason(exc: BaseException) -> str:
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timed out"
    if isinstance(exc, urllib.error.URLError):
        return f"cannot connect ({exc.reason})"
    if type(exc) is ConnectionError and str(exc):
        return str(exc)  # our own words (a body cut short, a 5xx)
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def open_fs(url: str, timeout: float) -> tuple[Any, str]:
    """fsspec's filesystem for `url` and the base path within it (our retries, not theirs)."""
    import fsspec

    protocol = url.split("://", 1)[0].lower() if "://" in url else "file"
    options: dict[str, Any] = {}
    if protocol in ("s3", "s3a"):
        options = {
            "skip_instance_cache": True,
            "config_kwargs": {
                "connect_timeout": timeout,
                "read_timeout": timeout,
                "retries": {"max_attempts": 1},
            },
        }
    try:
        fs, path = fsspec.core.url_to_fs(url, **options)
    except ImportError as exc:
        raise GenekbError(
            f"{url}: reading {protocol}:// needs a package fsspec names ({exc}); for s3:// "
            "install genekb-cellmodel[s3]"
        ) from None
    except ValueError as exc:
        raise UsageError(f"{url}: not a URL fsspec knows ({exc})") from None
    except OSError as exc:  # a file system that connects when made (ftp://, hdfs://)
        raise RemoteError(
            f"{url}: cannot open the remote ({reason(exc)}); check the URL and that its server"
            " is up, or use a folder, http(s):// or s3://"
        ) from None
    return fs, path.rstrip("/")
