"""A remote's URL and its errors: which URLs name a place, the fsspec file system for one, and
which failures a retry may mend, put in one printable line (`genekb.store.remote_io` moves the
files)."""

from __future__ import annotations

import base64
import contextlib
import http.client
import socket
import urllib.error
import urllib.parse
from typing import Any

from genekb.errors import GenekbError, UsageError

HTTP = ("http://", "https://")
# What fsspec raises for a failure no retry mends (`refusal` words it).
REFUSED = (FileNotFoundError, PermissionError, NotADirectoryError, IsADirectoryError)
# Object stores: a put is whole or absent, a reader never sees part of an object.
OBJECT_STORES = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "oss"})


class RemoteError(GenekbError):
    """A remote that could not be reached or read, after the retries."""


class NotFound(RemoteError):
    """The remote lacks a file (HTTP 404, no such key or path)."""


class CutShort(RemoteError):
    """A transfer stopped by the network or the local disk, after the retries: what arrived is
    kept, and a rerun resumes it (every other RemoteError is a refusal)."""


class Busy(ConnectionError):
    """A 429 or 5xx reply: retried, after the wait its Retry-After names where it names one."""

    def __init__(self, message: str, wait: float | None) -> None:
        super().__init__(message)
        self.wait = wait


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


def service_code(exc: BaseException) -> str:
    """The error code an S3 service sent ("NoSuchBucket", "InvalidAccessKeyId"), which s3fs keeps
    on the OSError it raises; "" where there is none. Never the message: a signature error's
    message quotes the request."""
    response = getattr(exc.__cause__, "response", None)
    error = response.get("Error") if isinstance(response, dict) else None
    code = error.get("Code") if isinstance(error, dict) else None
    if not code:
        return ""
    return f"HTTP {code}" if str(code).isdigit() else said(code)[:80]  # a HEAD reply: no body


def refusal(where: str, exc: OSError) -> RemoteError:
    """The one line for a failure no retry mends: a missing file or bucket, refused access, a
    path of the wrong shape. A missing bucket is no missing file: pull said "no genekb remote
    there", and publish created the bucket (s3fs makes one for a missing parent)."""
    code = service_code(exc)
    if isinstance(exc, FileNotFoundError) and code == "NoSuchBucket":
        return RemoteError(
            f"{where}: the bucket does not exist (NoSuchBucket); check the bucket's name and the"
            " endpoint (AWS_ENDPOINT_URL), or create the bucket first"
        )
    if isinstance(exc, FileNotFoundError):
        return NotFound(f"{where}: not found on the remote")
    if isinstance(exc, PermissionError) and code:
        return RemoteError(
            f"{where}: access refused ({code}); check the credentials (AWS_ACCESS_KEY_ID and"
            " AWS_SECRET_ACCESS_KEY, or AWS_PROFILE) and that they may read there to pull, write"
            " there to publish"
        )
    if isinstance(exc, PermissionError):
        return RemoteError(f"{where}: permission denied by the remote")
    return RemoteError(
        f"{where}: the remote's path runs into a file where a folder must be (or the reverse);"
        " give a folder, or a URL, as the remote"
    )


def said(phrase: object) -> str:
    """A server's reason phrase as one printable line: urllib's redirect-loop reason runs over
    three lines, and the phrase is the server's to choose, escape sequences included."""
    text = str(phrase).strip()
    if "infinite loop" in text:
        return "redirects in a loop; check the URL"
    line = text.splitlines()[0] if text else ""
    return "".join(ch if ch.isprintable() else "?" for ch in line)[:200]


def shown(url: str) -> str:
    """`url` as messages and reports show it: a password in it (a user name standing alone,
    often a token, too) and the values of its query (a token, a signature) as ***, so that no
    error line or log hands them on."""
    head, question, query = url.partition("?")
    scheme, sep, rest = head.partition("://")
    if not sep:
        return url  # a local path: a "?" in it is part of a name
    netloc, slash, path = rest.partition("/")
    user, at, host = netloc.rpartition("@")
    if at:  # a user name alone is often a token (https://TOKEN@host/…)
        name = f"{user.partition(':')[0]}:***" if ":" in user else "***"
        head = f"{scheme}{sep}{name}@{host}{slash}{path}"
    if question:
        keys = [part.partition("=")[0] for part in query.split("&") if part]
        head += "?" + "&".join(f"{key}=***" for key in keys)
    return head


def http_parts(url: str) -> tuple[str, str, str | None]:
    """(base URL without its credentials and query, "?query" or "", Basic auth or None) of an
    HTTP remote: a file's URL is the base, "/name", then the query (appending the name after
    the query made it part of the query), and `user:password@` is sent as a header (urllib
    took it for part of the host name, so no request ever reached the server)."""
    parts = urllib.parse.urlsplit(url)
    auth = None
    if parts.username is not None or parts.password is not None:
        pair = f"{urllib.parse.unquote(parts.username or '')}:"
        pair += urllib.parse.unquote(parts.password or "")
        auth = "Basic " + base64.b64encode(pair.encode()).decode()
    host = parts.netloc.rpartition("@")[2]
    path, query = _escaped(parts.path.rstrip("/")), _escaped(parts.query)
    base = urllib.parse.urlunsplit((parts.scheme, host, path, "", ""))
    return base, f"?{query}" if query else "", auth


def _escaped(part: str) -> str:
    """A URL's path or query with what no request line may hold (a space, a control character,
    non-ASCII) percent-encoded, as a browser sends it: http.client refused "pub with space" as
    "can't contain control characters", which was retried five times as a network fault. An
    escape already written ("%20") stays as it is."""
    return urllib.parse.quote(part, safe="/:@!$&'()*+,;=~%?")


def checked_url(url: str) -> str:
    """`url` without its trailing slashes; UsageError for a URL that names no place. Stripping
    `http://` bare would leave `http:`, which fsspec takes for a relative folder: a publish
    would then write a store into the working directory under that name."""
    scheme, sep, rest = url.partition("://")
    if sep and not rest.strip("/"):
        raise UsageError(f"{url!r} names no host, bucket or folder after {scheme}://; give the"
                         " whole URL of the remote")  # fmt: skip
    if scheme.lower() in OBJECT_STORES and "@" in rest.partition("/")[0]:
        # s3fs took "key:secret@bucket" for a bucket name, retried, and echoed the secret.
        raise UsageError(
            f"{shown(url)!r} holds credentials; an {scheme}:// URL does not carry them: set"
            " AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) instead"
        )
    if scheme.lower() in OBJECT_STORES and "//" in rest.strip("/"):
        # s3://bucket//x named the key "/x/…", beside the "x/…" that s3://bucket/x names.
        raise UsageError(
            f"{url!r} has an empty part between two slashes; write it with single slashes"
            f" ({scheme}://{'/'.join(p for p in rest.split('/') if p)})"
        )
    if url.lower().startswith(HTTP):
        try:
            host = urllib.parse.urlsplit(url).hostname
        except ValueError as exc:  # an unclosed [IPv6] bracket, a port out of range
            raise UsageError(f"{shown(url)!r} is not a valid URL ({exc})") from None
        if not host:
            raise UsageError(f"{shown(url)!r} names no host; give the whole URL of the remote")
        head, question, query = url.partition("?")
        return head.rstrip("/") + question + query
    return url.rstrip("/")


def reason(exc: BaseException) -> str:
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timed out"
    if isinstance(exc, urllib.error.URLError):
        return f"cannot connect ({exc.reason})"
    if type(exc) in (ConnectionError, Busy) and str(exc):
        return str(exc)  # our own words (a body cut short, a 5xx)
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def local_file_url(url: str) -> str:
    """A file:// URL as fsspec reads it: its path percent-decoded (RFC 8089; `Path.as_uri()`
    writes "my store" as "my%20store", which fsspec read as it stands: "no such folder", or a
    publish made a folder of that name), "localhost" as no host. fsspec took any host for the
    first folder of a relative path (file://localhost/srv/x was ./localhost/srv/x), so another
    host is refused."""
    scheme, _, rest = url.partition("://")
    host, slash, path = rest.partition("/")
    if len(host) == 2 and host[0].isalpha() and host[1] == ":":  # file://C:/x, a Windows drive
        return f"{scheme}://{urllib.parse.unquote(rest)}"
    if host.lower() not in ("", "localhost"):
        raise UsageError(
            f"{url!r} names the host {urllib.parse.unquote(host)!r}; a file:// URL names a folder"
            " on this machine: write file:///PATH (three slashes), or the folder's path"
        )
    return f"{scheme}://{slash}{urllib.parse.unquote(path)}"


def open_fs(url: str, timeout: float) -> tuple[Any, str]:
    """fsspec's filesystem for `url` and the base path within it (our retries, not theirs)."""
    import fsspec

    protocol = url.split("://", 1)[0].lower() if "://" in url else "file"
    if protocol == "file" and "://" in url:
        url = local_file_url(url)
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
            f"{shown(url)}: reading {protocol}:// needs a package fsspec names ({exc}); for"
            " s3:// install genekb-cellmodel[s3]"
        ) from None
    except ValueError as exc:
        raise UsageError(f"{shown(url)}: not a URL fsspec knows ({exc})") from None
    except OSError as exc:  # a file system that connects when made (ftp://, hdfs://)
        raise RemoteError(
            f"{shown(url)}: cannot open the remote ({reason(exc)}); check the URL and that its"
            " server is up, or use a folder, http(s):// or s3://"
        ) from None
    return fs, path.rstrip("/")
