"""Real servers on 127.0.0.1 for the sharing tests: a static HTTP server that can misbehave on
purpose and counts what it sends, and moto's standalone S3 server in a subprocess."""

from __future__ import annotations

import contextlib
import gzip
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

# What a reader asks for before any version's file: the index, and its signature (absent, and
# asked for all the same, on a remote published unsigned).
INDEX_FILES = ("genekb-remote.json", "genekb-remote.json.sig")


@dataclass
class Fault:
    """What the server does to requests whose path contains `match` (the first `times` ones)."""

    match: str
    kind: str  # "drop" (close after `at` bytes), "flip" (one wrong byte), "cut" (half the
    #            body, announced as such), "404", "slow" (wait `delay` seconds first), "drip"
    #            (the first `at` bytes one at a time, `delay` seconds apart, then the rest),
    #            "loop" (a redirect to itself), "reason" (403 with an escape in its reason),
    #            "html" (200 with a login page, no length), "gzip" (the whole file gzipped, with
    #            Content-Encoding), "busy" (status `at`, Retry-After `delay` if given), "moved"
    #            (a redirect to the same path under the base URL `to`), "as-html" (the file,
    #            typed text/html), "whole-206" (a Range request answered with 206 and the whole
    #            file, from byte 0 as its Content-Range says), "drip-head" (the status line, then
    #            `at` bytes of headers one at a time, `delay` seconds apart, then a close),
    #            "nowhere" (a redirect, status `at` or 302, with no Location), "not-http" (bytes
    #            that are no HTTP reply: a TLS alert, then binary, then a close)
    at: int = 0
    delay: float = 0.0
    times: int = 1 << 30
    to: str = ""


@dataclass
class Served:
    """Counters and faults shared by the handler threads."""

    root: Path
    faults: list[Fault] = field(default_factory=list)
    gets: Counter = field(default_factory=Counter)  # path -> GET requests
    bytes_sent: Counter = field(default_factory=Counter)  # path -> body bytes written
    ranges: list[str] = field(default_factory=list)  # Range headers seen
    requests: list[tuple[str, str | None, float]] = field(default_factory=list)  # (path with
    #                                           its query, Authorization header, monotonic time)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fault_for(self, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.match in path and fault.times > 0:
                    fault.times -= 1
                    return fault
        return None

    def files_fetched(self) -> set[str]:
        return {p for p in self.gets if p not in INDEX_FILES}


class FaultyHandler(BaseHTTPRequestHandler):
    served: Served  # set on the subclass a server is made with

    def log_message(self, *args: object) -> None:  # quiet: pytest shows stderr of failures
        pass

    def do_GET(self) -> None:
        served = self.served
        path = urllib.parse.unquote(self.path.split("?", 1)[0]).lstrip("/")  # as servers do
        file = (served.root / path).resolve()
        with served.lock:
            served.gets[path] += 1
            served.requests.append((self.path, self.headers.get("Authorization"), time.monotonic()))
        fault = served.fault_for(path)
        if fault and fault.kind == "slow":
            time.sleep(fault.delay)
        if fault and fault.kind == "drip-head":
            self._drip_head(fault)
            return
        if fault and fault.kind == "not-http":
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.wfile.write(b"\x15\x03\x01\x00\x02\x02\x46\x1b[2J\xff\xfe binary\r\n\r\n")
            return
        if fault and fault.kind == "nowhere":
            self.send_response(fault.at or 302)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if fault and fault.kind in ("html", "busy", "moved"):
            self._answer(fault)
            return
        if fault and fault.kind in ("loop", "reason"):
            self.send_response(302 if fault.kind == "loop" else 403,
                               None if fault.kind == "loop" else "Go \x1b[2Jaway")  # fmt: skip
            if fault.kind == "loop":
                self.send_header("Location", self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if (fault and fault.kind == "404") or not file.is_file() or served.root not in file.parents:
            self.send_error(404)
            return
        data = file.read_bytes()
        start = 0
        header = self.headers.get("Range")
        if header and header.startswith("bytes=") and header.endswith("-"):
            served.ranges.append(header)
            start = int(header[6:-1])
        body = data[start:]
        if fault and fault.kind == "flip":
            body = bytearray(body)
            body[len(body) // 2] ^= 0x01
            body = bytes(body)
        if fault and fault.kind == "cut":
            body = body[: len(body) // 2]
        if fault and fault.kind == "gzip":
            body, start = gzip.compress(data), 0
        whole = bool(fault and fault.kind == "whole-206" and start)
        if whole:
            body, start = data, 0
        self.send_response(206 if start or whole else 200)
        if start or whole:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        if fault and fault.kind == "gzip":
            self.send_header("Content-Encoding", "gzip")
        if fault and fault.kind == "as-html":
            self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(data) - start if fault and
                                               fault.kind == "drop" else len(body)))  # fmt: skip
        self.end_headers()
        if fault and fault.kind == "drop":
            body = body[: fault.at]
        try:
            if fault and fault.kind == "drip":
                for i in range(min(fault.at, len(body))):
                    self.wfile.write(body[i : i + 1])
                    self.wfile.flush()
                    time.sleep(fault.delay)
                body = body[fault.at :]
            self.wfile.write(body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            return
        with served.lock:
            served.bytes_sent[path] += len(body)
        if fault and fault.kind == "drop":
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)

    def _drip_head(self, fault: Fault) -> None:
        """A head that never ends in time: one header byte every `delay` s, `at` of them."""
        self.close_connection = True
        header = b"X-Padding: " + b"a" * fault.at
        with contextlib.suppress(OSError):
            self.wfile.write(b"HTTP/1.1 200 OK\r\n")
            self.wfile.flush()
            for i in range(fault.at):
                self.wfile.write(header[i : i + 1])
                self.wfile.flush()
                time.sleep(fault.delay)

    def _answer(self, fault: Fault) -> None:
        """A reply that is no file: a login page, a busy server, a redirect elsewhere."""
        if fault.kind == "html":
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()  # no length: the page ends when the connection closes
            self.close_connection = True
            self.wfile.write(b"<!doctype html><html><body>Please log in</body></html>")
            return
        self.send_response(fault.at if fault.kind == "busy" else 302)
        if fault.kind == "busy" and fault.delay:
            self.send_header("Retry-After", f"{fault.delay:g}")
        if fault.kind == "moved":
            self.send_header("Location", fault.to + self.path)
        self.send_header("Content-Length", "0")
        self.end_headers()


@contextlib.contextmanager
def http_server(root: Path) -> Iterator[tuple[str, Served]]:
    """Serve `root` on 127.0.0.1 (a free port); yields (base URL, counters and faults)."""
    served = Served(root.resolve())
    handler = type("Handler", (FaultyHandler,), {"served": served})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", served
    finally:
        server.shutdown()
        server.server_close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def s3_server() -> Iterator[str]:
    """moto's standalone S3 server on 127.0.0.1 in a subprocess; yields its endpoint URL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("moto's S3 server did not start")
            time.sleep(0.1)
        yield endpoint
    finally:
        process.terminate()
        process.wait(10)


def s3_env(endpoint: str) -> dict[str, str]:
    """Environment that points botocore (s3fs) at the local server, with dummy credentials."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }


def make_bucket(endpoint: str, name: str) -> None:
    import boto3

    env = s3_env(endpoint)
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=env["AWS_DEFAULT_REGION"],
    ).create_bucket(Bucket=name)


__all__ = ["Fault", "Served", "http_server", "make_bucket", "s3_env", "s3_server"]
