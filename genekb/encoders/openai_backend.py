"""OpenAI-compatible `/v1/embeddings` endpoints: ada-002, text-embedding-3-small, `openai:MODEL`.

Configuration comes from the environment: OPENAI_BASE_URL (default https://api.openai.com/v1; any
server speaking the protocol, e.g. a local one) and OPENAI_API_KEY (required for api.openai.com,
optional elsewhere). A server other than the default is part of the encoder spec (`endpoint`),
so two servers serving the same model name give two versions, never one. The key is sent only in
the Authorization header; it is never logged, put in an error message, or stored in a spec.

Token counts are an estimate, not tiktoken: ceil(UTF-8 bytes / 3). English averages about four
bytes per cl100k token, so the estimate errs high, and a text truncated to the spec's max_length
by this rule fits the model's real limit. The estimate is the same everywhere, so the text that is
embedded does not depend on what is installed.

Requests hold at most `MAX_INPUTS_PER_REQUEST` texts and `MAX_TOKENS_PER_REQUEST` estimated
tokens. HTTP 429 and 5xx (and dropped connections) are retried with exponential backoff that
honours Retry-After, at most `max_attempts` times and within `max_total_s`; a server that accepts
a connection and never answers costs at most the read timeout per attempt. Then, or on a malformed
reply, GenekbError.
"""

from __future__ import annotations

import email.utils
import math
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from genekb.encoders.base import Encoder, EncoderSpec, Progress, l2_normalize, length_sorted_batches
from genekb.errors import GenekbError

DEFAULT_BASE_URL = "https://api.openai.com/v1"
BYTES_PER_TOKEN_ESTIMATE = 3
MAX_INPUTS_PER_REQUEST = 2048  # OpenAI's documented limit per request
MAX_TOKENS_PER_REQUEST = 100_000  # well under OpenAI's 300k per request; keeps replies small
RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
CONNECT_TIMEOUT_S = 10.0


def endpoint_from_env() -> str | None:
    """OPENAI_BASE_URL when it names a server other than the default, else None."""
    url = os.environ.get("OPENAI_BASE_URL", "").strip().rstrip("/")
    return url if url and url != DEFAULT_BASE_URL else None


def estimate_tokens(text: str) -> int:
    return max(1, math.ceil(len(text.encode("utf-8")) / BYTES_PER_TOKEN_ESTIMATE))


def truncate_to_tokens(text: str, max_tokens: int) -> str:
    """Cut `text` so that its estimated token count is at most `max_tokens`."""
    limit = max_tokens * BYTES_PER_TOKEN_ESTIMATE
    raw = text.encode("utf-8")
    return text if len(raw) <= limit else raw[:limit].decode("utf-8", errors="ignore")


def retry_after_seconds(header: str | None) -> float | None:
    """Retry-After as seconds (it may be a number or an HTTP date); None when absent or unusable."""
    if not header:
        return None
    try:
        return max(0.0, float(header))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class OpenAIEncoder(Encoder):
    def __init__(
        self,
        spec: EncoderSpec,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        max_attempts: int = 6,
        backoff_s: float = 1.0,
        max_wait_s: float = 60.0,
        timeout_s: float = 60.0,
        max_total_s: float = 600.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        import requests

        url = base_url or spec.endpoint or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
        self.base_url = url.rstrip("/")
        key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY", "")
        if not key and self.base_url == DEFAULT_BASE_URL:
            raise GenekbError(
                f"encoder {spec.name!r} calls the OpenAI API: set OPENAI_API_KEY (or"
                " OPENAI_BASE_URL for a compatible local server)"
            )
        self._key = key
        self.max_attempts, self.backoff_s, self.max_wait_s = max_attempts, backoff_s, max_wait_s
        self.timeout_s, self.max_total_s, self._sleep = timeout_s, max_total_s, sleep
        self._session = requests.Session()
        super().__init__(spec)

    def __repr__(self) -> str:  # never shows the key
        return f"OpenAIEncoder(model={self.spec.model_id!r}, base_url={self.base_url!r})"

    @property
    def dim(self) -> int:
        if self.spec.dim is None:
            raise GenekbError(
                f"the dimension of {self.spec.name!r} is known after the first request"
            )
        return self.spec.dim

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [estimate_tokens(self.spec.prompt + t) for t in texts]

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 64, progress: Progress | None = None
    ) -> np.ndarray:
        # The API rejects empty strings; a single space stands in for them.
        prepared = [
            truncate_to_tokens(self.spec.prompt + t, self.spec.max_length) or " " for t in texts
        ]
        batches = length_sorted_batches(
            [estimate_tokens(t) for t in prepared],
            max_tokens=MAX_TOKENS_PER_REQUEST,
            max_count=max(1, min(batch_size, MAX_INPUTS_PER_REQUEST)),
        )
        out: np.ndarray | None = None
        if self.spec.dim is not None:
            out = np.zeros((len(texts), self.spec.dim), dtype=np.float32)
        for idx in batches:
            vectors = self._embed([prepared[i] for i in idx])
            if out is None:  # generic spec: learn the dimension from the first reply
                self.spec = self.spec.with_(dim=vectors.shape[1])
                out = np.zeros((len(texts), vectors.shape[1]), dtype=np.float32)
            out[idx] = vectors
            if progress:
                progress(len(idx))
        if out is None:
            return np.zeros((0, self.spec.dim or 0), dtype=np.float32)
        return l2_normalize(out) if self.spec.normalize else out

    def _embed(self, inputs: list[str]) -> np.ndarray:
        payload = {"model": self.spec.model_id, "input": inputs, "encoding_format": "float"}
        return self._parse(self._post(payload), len(inputs))

    def _post(self, payload: dict[str, Any]) -> Any:
        import requests

        url = f"{self.base_url}/embeddings"
        headers = {"Authorization": f"Bearer {self._key}"} if self._key else {}
        last_problem = ""
        started = time.monotonic()
        timeout = (min(CONNECT_TIMEOUT_S, self.timeout_s), self.timeout_s)
        for attempt in range(self.max_attempts):
            try:
                reply = self._session.post(url, json=payload, headers=headers, timeout=timeout)
            except (requests.ConnectionError, requests.Timeout) as exc:
                last_problem, retry_after = f"{type(exc).__name__}", None
            else:
                if reply.status_code == 200:
                    try:
                        return reply.json()
                    except ValueError:
                        raise GenekbError(
                            f"{url} answered with something that is not JSON; is OPENAI_BASE_URL"
                            " an OpenAI-compatible endpoint?"
                        ) from None
                if reply.status_code not in RETRY_STATUSES:
                    raise GenekbError(self._rejection(url, reply))
                last_problem = f"HTTP {reply.status_code}"
                retry_after = retry_after_seconds(reply.headers.get("Retry-After"))
            if attempt + 1 == self.max_attempts:
                break
            wait = retry_after if retry_after is not None else self.backoff_s * 2**attempt
            wait = min(wait, self.max_wait_s)
            if time.monotonic() - started + wait + self.timeout_s > self.max_total_s:
                break  # another attempt could not finish within the time allowed
            self._sleep(wait)
        raise GenekbError(
            f"{url} kept failing ({last_problem}) after {attempt + 1} attempts in"
            f" {time.monotonic() - started:.0f} s; try again later or check the server"
        )

    def _rejection(self, url: str, reply: Any) -> str:
        detail = ""
        try:
            error = reply.json().get("error")
            detail = error.get("message", "") if isinstance(error, dict) else str(error or "")
        except (ValueError, AttributeError):
            detail = ""
        detail = self._redact(detail)[:200]
        if reply.status_code in (401, 403):
            return f"{url} rejected the API key (HTTP {reply.status_code}); check OPENAI_API_KEY"
        return f"{url} refused the request (HTTP {reply.status_code}): {detail or 'no detail'}"

    def _redact(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key else text

    def _parse(self, body: Any, expected: int) -> np.ndarray:
        where = f"{self.base_url}/embeddings"
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list) or len(data) != expected:
            got = len(data) if isinstance(data, list) else "no"
            raise GenekbError(
                f"malformed reply from {where}: {got} embeddings for {expected} inputs"
            )
        rows: dict[int, list[float]] = {}
        for item in data:
            index = item.get("index") if isinstance(item, dict) else None
            vector = item.get("embedding") if isinstance(item, dict) else None
            if not isinstance(index, int) or not 0 <= index < expected or index in rows:
                raise GenekbError(f"malformed reply from {where}: bad or repeated index {index!r}")
            if not isinstance(vector, list) or not vector:
                raise GenekbError(f"malformed reply from {where}: item {index} has no embedding")
            rows[index] = vector
        width = self.spec.dim or len(rows[0])
        if any(len(v) != width for v in rows.values()):
            raise GenekbError(
                f"malformed reply from {where}: embeddings are not all {width}-d"
                + (
                    f" (the spec of {self.spec.name!r} says {self.spec.dim})"
                    if self.spec.dim
                    else ""
                )
            )
        try:
            matrix = np.asarray([rows[i] for i in range(expected)], dtype=np.float32)
        except (TypeError, ValueError):
            raise GenekbError(f"malformed reply from {where}: non-numeric embedding") from None
        if not np.isfinite(matrix).all():
            raise GenekbError(f"malformed reply from {where}: non-finite values in an embedding")
        return matrix

    def close(self) -> None:
        self._session.close()


def load(spec: EncoderSpec, device: str | None) -> Encoder:
    """A client for `spec`; a spec without a dim learns it here, from a one-text request.

    Other backends know their dimension once loaded, and callers hash the loaded spec (dim
    included) before encoding, so the first reply is taken at load rather than at first encode.
    """
    del device  # remote: the server decides
    encoder = OpenAIEncoder(spec)
    if spec.dim is None:
        encoder.encode(["dimension probe"])
    return encoder
