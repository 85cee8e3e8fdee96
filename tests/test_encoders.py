"""Encoder registry and backends, offline: a local HTTP server, tiny models built in the test."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from genekb.encoders import registry
from genekb.encoders.base import EncoderSpec
from genekb.encoders.listing import encoder_rows
from genekb.encoders.openai_backend import (
    OpenAIEncoder,
    estimate_tokens,
    retry_after_seconds,
    truncate_to_tokens,
)
from genekb.encoders.packaged import COMPLETE_MARKER, SplitWheelModel, join_parts
from genekb.errors import GenekbError, IntegrityError, UnknownNameError, UsageError
from tests.fakes import send_reply

SECRET = "sk-test-do-not-leak-0123456789"
WORDS = ["gene", "protein", "the", "of", "tumor", "cell", "insulin", "kinase", "binds", "dna"]
TEXTS = [
    "tumor protein of the cell",
    "insulin",
    "kinase binds dna of the tumor cell protein gene",
    "the gene",
    "dna",
]
# The size of the tiny BERT and tiny Llama built below: quick to build, yet two real layers.
TINY_SIZES: dict[str, int] = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "max_position_embeddings": 64,
}


# --- registry ------------------------------------------------------------------------------------


def test_unknown_name_lists_choices() -> None:
    with pytest.raises(UnknownNameError) as caught:
        registry.resolve("no-such-encoder")
    message = str(caught.value)
    for choice in ("minilm", "mpnet", "smollm2", "biobert", "hf:PATH_OR_ID", "openai:PATH_OR_ID"):
        assert choice in message
    assert caught.value.exit_code == 2


def test_spec_hash_is_stable_and_ignores_labels() -> None:
    spec = EncoderSpec(name="x", backend="hf", model_id="org/model", dim=8, revision="abc")
    assert spec.spec_sha256() == (
        "6db5af23d3308c336501ab900eb51f939a8959342a23bba5fe04610d4df10cb6"
    )
    assert spec.with_(name="y", description="other").spec_sha256() == spec.spec_sha256()
    assert spec.with_(dtype="bfloat16").spec_sha256() != spec.spec_sha256()


BUILT_IN = [
    "biobert",
    "minilm",
    "minilm-bf16",
    "mpnet",
    "openai:text-embedding-3-small",
    "openai:text-embedding-ada-002",
    "pubmedbert",
    "scibert",
    "smollm2",
    "smollm2-last",
]


def test_built_in_specs_are_pinned_distinct_and_round_trip() -> None:
    specs = [registry.resolve(n) for n in BUILT_IN]
    assert len({s.spec_sha256() for s in specs}) == len(BUILT_IN)
    for spec in specs:
        assert spec.dim is not None
        assert EncoderSpec.from_dict(spec.to_dict()).spec_sha256() == spec.spec_sha256()
        # biobert: no commit of its hub repo could be confirmed; its weights are hashed on load
        pinned = spec.revision or spec.weights_sha256 or spec.backend == "openai"
        assert pinned or spec.name == "biobert"


def test_dtype_suffix_gives_a_variant() -> None:
    variant = registry.resolve("minilm@bf16")
    assert variant.dtype == "bfloat16" and variant.model_id == registry.resolve("minilm").model_id
    assert variant.spec_sha256() == registry.resolve("minilm-bf16").spec_sha256()
    assert registry.resolve("hf:/some/dir@fp16").model_id == "/some/dir"
    with pytest.raises(UsageError):
        registry.resolve("openai:text-embedding-3-small@fp16")


# --- OpenAI-compatible endpoint ------------------------------------------------------------------


class ScriptedHandler(BaseHTTPRequestHandler):
    """Replies from `script` (status, headers, body) in order, then echoes embeddings."""

    script: ClassVar[list[tuple[int, dict[str, str], Any]]] = []
    requests: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append({"path": self.path, "headers": dict(self.headers), **body})
        if type(self).script:
            status, headers, reply = type(self).script.pop(0)
        else:
            status, headers = 200, {}
            data = [
                {"object": "embedding", "index": i, "embedding": echo_vector(text)}
                for i, text in enumerate(body["input"])
            ]
            reply = {"object": "list", "data": data[::-1], "model": body["model"]}  # any order
        raw = reply if isinstance(reply, bytes) else json.dumps(reply).encode()
        send_reply(self, status, raw, headers)

    def log_message(self, *args: Any) -> None:  # keep test output clean
        pass


def echo_vector(text: str) -> list[float]:
    return [float(len(text)), float(sum(text.encode()) % 97), 1.0, 2.0]


@pytest.fixture
def server() -> Iterator[str]:
    ScriptedHandler.script, ScriptedHandler.requests = [], []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), ScriptedHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()
    httpd.server_close()


def make_client(url: str, spec: EncoderSpec | None = None, **kwargs: Any) -> OpenAIEncoder:
    return OpenAIEncoder(
        spec or registry.resolve("openai:tiny-embedder"),
        base_url=url,
        api_key=SECRET,
        **kwargs,
    )


def test_openai_success_batches_orders_and_learns_dim(
    server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", server)
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    encoder = registry.load("openai:tiny-embedder")
    assert encoder.spec.dim == 4  # learned at load from a one-text probe
    assert [len(r["input"]) for r in ScriptedHandler.requests] == [1]
    done: list[int] = []
    vectors = encoder.encode(TEXTS, batch_size=2, progress=done.append)
    expected = np.array([echo_vector(t) for t in TEXTS], dtype=np.float32)
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(vectors, expected, rtol=1e-6)
    assert encoder.dim == 4 and sum(done) == len(TEXTS)
    sent = ScriptedHandler.requests
    assert [len(r["input"]) for r in sent] == [1, 2, 2, 1]
    assert all(r["path"] == "/v1/embeddings" and r["model"] == "tiny-embedder" for r in sent)
    assert sent[0]["headers"]["Authorization"] == f"Bearer {SECRET}"
    assert SECRET not in repr(encoder)


def test_openai_429_then_success_honours_retry_after(server: str) -> None:
    ScriptedHandler.script = [(429, {"Retry-After": "7"}, {"error": {"message": "slow down"}})]
    slept: list[float] = []
    vectors = make_client(server, sleep=slept.append).encode(TEXTS[:2])
    assert slept == [7.0]
    assert vectors.shape == (2, 4) and len(ScriptedHandler.requests) == 2


def test_openai_500_storm_ends_in_clear_error(server: str) -> None:
    ScriptedHandler.script = [(500, {}, {"error": {"message": f"boom {SECRET}"}})] * 10
    slept: list[float] = []
    client = make_client(server, sleep=slept.append, max_attempts=4, backoff_s=0.01)
    with pytest.raises(GenekbError, match=r"kept failing \(HTTP 500\) after 4 attempts") as err:
        client.encode(TEXTS)
    assert slept == pytest.approx([0.01, 0.02, 0.04])
    assert len(ScriptedHandler.requests) == 4
    assert SECRET not in str(err.value)


@pytest.mark.parametrize(
    ("reply", "problem"),
    [
        ({"data": [{"index": 0}, {"index": 1, "embedding": [1.0]}]}, "has no embedding"),
        ({"data": [{"index": 0, "embedding": [1.0, 2.0]}]}, "1 embeddings for 2 inputs"),
        ({"data": [{"index": 0, "embedding": [1.0]}, {"index": 0, "embedding": [2.0]}]}, "index"),
        ({"data": [{"index": 0, "embedding": [1.0]}, {"index": 1, "embedding": [1, 2]}]}, "-d"),
        ({"data": [{"index": 0, "embedding": ["a"]}, {"index": 1, "embedding": ["b"]}]}, "numeric"),
        ({"result": "ok"}, "no embeddings"),
        (b"<html>not json</html>", "not JSON"),
    ],
)
def test_openai_malformed_reply(server: str, reply: Any, problem: str) -> None:
    ScriptedHandler.script = [(200, {}, reply)]
    with pytest.raises(GenekbError, match=r"malformed|not JSON") as err:
        make_client(server).encode(TEXTS[:2])
    assert problem in str(err.value)


def test_openai_rejected_key_is_not_echoed(server: str) -> None:
    ScriptedHandler.script = [(401, {}, {"error": {"message": f"bad key {SECRET}"}})]
    with pytest.raises(GenekbError, match="rejected the API key") as err:
        make_client(server).encode(["x"])
    assert SECRET not in str(err.value)


def test_openai_needs_a_key_for_the_public_api(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(GenekbError, match="OPENAI_API_KEY"):
        registry.load("openai:text-embedding-3-small")


def test_token_estimate_and_truncation() -> None:
    assert estimate_tokens("abcdef") == 2 and estimate_tokens("") == 1
    cut = truncate_to_tokens("é" * 100, 10)  # 2 bytes per char: 30 bytes -> 15 chars
    assert cut == "é" * 15 and estimate_tokens(cut) <= 10
    assert retry_after_seconds("2.5") == 2.5 and retry_after_seconds("soon") is None
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past


# --- Hugging Face encoder (tiny BERT) ------------------------------------------------------------


def save_wordpiece_tokenizer(path: Path) -> None:
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS])}
    vocab |= {f"##{w[-2:]}": len(vocab) + i for i, w in enumerate(WORDS[:4])}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    ).save_pretrained(path)


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch
    from transformers import BertConfig, BertModel

    path = tmp_path_factory.mktemp("tiny-bert")
    torch.manual_seed(0)
    config = BertConfig(vocab_size=32, num_attention_heads=2, **TINY_SIZES)
    BertModel(config).save_pretrained(path)
    save_wordpiece_tokenizer(path)
    return path


def test_hf_mean_pooling_by_path(tiny_bert: Path) -> None:
    import torch
    from transformers import AutoModel, AutoTokenizer

    encoder = registry.load(f"hf:{tiny_bert}", device="cpu")
    weights = (tiny_bert / "model.safetensors").read_bytes()
    assert encoder.dim == 32
    assert encoder.spec.weights_sha256 == hashlib.sha256(weights).hexdigest()
    vectors = encoder.encode(TEXTS, batch_size=3)

    # The same thing by hand, one text at a time (no padding at all).
    tok, model = AutoTokenizer.from_pretrained(tiny_bert), AutoModel.from_pretrained(tiny_bert)
    with torch.inference_mode():
        for text, got in zip(TEXTS, vectors, strict=True):
            hidden = model(**tok(text, return_tensors="pt")).last_hidden_state[0].mean(dim=0)
            np.testing.assert_allclose(got, (hidden / hidden.norm()).numpy(), atol=1e-5)
    assert not np.allclose(vectors[0], vectors[1], atol=1e-3)


def test_hf_padding_and_batching_do_not_change_vectors(tiny_bert: Path) -> None:
    for pooling in ("mean", "cls"):
        spec = registry.resolve(f"hf:{tiny_bert}").with_(pooling=pooling)
        encoder = registry.load(spec, device="cpu")
        alone = np.stack([encoder.encode([t])[0] for t in TEXTS])
        np.testing.assert_allclose(encoder.encode(TEXTS, batch_size=8), alone, atol=1e-5)


def test_hf_truncates_to_max_length(tiny_bert: Path) -> None:
    encoder = registry.load(registry.resolve(f"hf:{tiny_bert}").with_(max_length=8), device="cpu")
    long_text = " ".join(WORDS * 3)
    assert encoder.count_tokens([long_text]) == [len(WORDS) * 3 + 2]
    head = " ".join(WORDS[:6])  # [CLS] + 6 words + [SEP] = 8 tokens
    np.testing.assert_allclose(encoder.encode([long_text]), encoder.encode([head]), atol=1e-6)


def test_hf_missing_models_are_clear_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(GenekbError, match="no Hugging Face model"):
        registry.load(f"hf:{tmp_path}", device="cpu")
    from huggingface_hub import constants

    if not constants.HF_HUB_OFFLINE:
        pytest.skip("needs HF_HUB_OFFLINE=1 before huggingface_hub is imported")
    monkeypatch.setenv("GENEKB_MODELS", str(tmp_path))
    with pytest.raises(GenekbError, match=r"not available offline.*hf download"):
        registry.load("scibert", device="cpu")


# --- decoder encoder (tiny Llama) ----------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaModel, PreTrainedTokenizerFast

    path = tmp_path_factory.mktemp("tiny-llama")
    vocab = {w: i for i, w in enumerate(["<unk>", "</s>", *WORDS])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    # No pad token, like many decoder LLMs: the backend must pick one and mask it out.
    PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="<unk>", eos_token="</s>"
    ).save_pretrained(path)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(vocab), num_attention_heads=4, num_key_value_heads=2, **TINY_SIZES
    )
    LlamaModel(config).save_pretrained(path)
    return path


@pytest.mark.parametrize("pooling", ["mean", "last"])
def test_decoder_vector_independent_of_batch(tiny_llama: Path, pooling: str) -> None:
    spec = registry.resolve(f"decoder:{tiny_llama}").with_(pooling=pooling)
    encoder = registry.load(spec, device="cpu")
    assert encoder.dim == 32
    alone = np.stack([encoder.encode([t])[0] for t in TEXTS])
    mixed = encoder.encode(TEXTS, batch_size=8)
    np.testing.assert_allclose(mixed, alone, atol=1e-5)
    reordered = encoder.encode(TEXTS[::-1], batch_size=2)[::-1]
    np.testing.assert_allclose(reordered, alone, atol=1e-5)
    assert not np.allclose(alone[0], alone[3], atol=1e-3)


def test_decoder_last_pooling_is_the_last_real_token(tiny_llama: Path) -> None:
    import torch
    from transformers import AutoModel, AutoTokenizer

    spec = registry.resolve(f"decoder:{tiny_llama}").with_(pooling="last")
    got = registry.load(spec, device="cpu").encode([TEXTS[0], TEXTS[1]])[0]
    tok, model = AutoTokenizer.from_pretrained(tiny_llama), AutoModel.from_pretrained(tiny_llama)
    with torch.inference_mode():
        last = model(**tok(TEXTS[0], return_tensors="pt")).last_hidden_state[0, -1]
    np.testing.assert_allclose(got, (last / last.norm()).numpy(), atol=1e-5)


def test_last_token_pooling_handles_left_padding() -> None:
    import torch

    from genekb.encoders.runtime import last_token, masked_mean

    hidden = torch.arange(2 * 4, dtype=torch.float32).reshape(2, 4, 1)
    left = torch.tensor([[0, 0, 1, 1], [1, 1, 1, 1]])
    right = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])
    assert last_token(hidden, left)[:, 0].tolist() == [3.0, 7.0]
    assert last_token(hidden, right)[:, 0].tolist() == [1.0, 7.0]
    assert masked_mean(hidden, right)[:, 0].tolist() == [0.5, 5.5]


# --- split-wheel assembly ------------------------------------------------------------------------


def split_zip(tmp_path: Path, files: dict[str, bytes], pieces: int) -> tuple[list[Path], str]:
    archive = tmp_path / "m.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    raw = archive.read_bytes()
    step = len(raw) // pieces + 1
    parts = []
    for i in range(pieces):
        part = tmp_path / f"m.zip.{i + 1:03d}"
        part.write_bytes(raw[i * step : (i + 1) * step])
        parts.append(part)
    return parts, hashlib.sha256(raw).hexdigest()


def test_split_parts_join_and_extract(tmp_path: Path) -> None:
    weights = b"not really safetensors" * 100
    files = {"m/model.safetensors": weights, "m/config.json": b"{}", "m/desktop.ini": b"x"}
    parts, zip_sha = split_zip(tmp_path, files, pieces=3)
    model = SplitWheelModel(
        key="m",
        parts=("p1", "p2", "p3"),
        zip_sha256=zip_sha,
        top_dir="m",
        weights_sha256=hashlib.sha256(weights).hexdigest(),
        install_hint="install it",
    )
    target = join_parts(model, parts, tmp_path / "models")
    assert (target / "model.safetensors").read_bytes() == weights
    assert (target / COMPLETE_MARKER).exists() and not (target / "desktop.ini").exists()
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["m"]  # no temp left
    with pytest.raises(IntegrityError, match="reinstall"):
        join_parts(model, parts[::-1], tmp_path / "other")


# --- listing -------------------------------------------------------------------------------------


def test_encoder_rows_report_availability(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.setenv("GENEKB_MODELS", str(tmp_path))
    biobert = tmp_path / "hf" / "dmis-lab--biobert-base-cased-v1.2"
    biobert.mkdir(parents=True)
    (biobert / "config.json").write_text("{}")
    (biobert / "model.safetensors").write_bytes(b"w")
    rows = {r["name"]: r for r in encoder_rows()}
    assert sorted(rows) == registry.names()
    assert rows["minilm"]["loadable"] is True and rows["minilm"]["dim"] == 384
    assert rows["tfidf-lsa"]["loadable"] is True and rows["tfidf-lsa"]["dim"] == 256
    assert rows["biobert"]["loadable"] is True and str(biobert) in rows["biobert"]["reason"]
    assert rows["scibert"]["loadable"] is False and "hf download" in rows["scibert"]["reason"]
    assert rows["openai:text-embedding-3-small"]["loadable"] is False
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    rows = {r["name"]: r for r in encoder_rows()}
    assert rows["openai:text-embedding-3-small"]["loadable"] is True
    assert all(SECRET not in json.dumps(r) for r in rows.values())
    assert {r["loadable"] for r in encoder_rows(check_load=False)} == {None}


def test_listing_imports_no_torch() -> None:
    code = (
        "import sys; from genekb.encoders.listing import encoder_rows; encoder_rows();"
        " sys.exit(int('torch' in sys.modules or 'transformers' in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False, timeout=60).returncode == 0


# --- real models (slow) --------------------------------------------------------------------------

GENE_TEXTS = [
    "TP53: tumor protein p53. Summary: This gene encodes a tumor suppressor protein containing"
    " transcriptional activation, DNA binding, and oligomerization domains.",
    "INS: insulin. Process: glucose homeostasis; regulation of insulin secretion.",
    "CD3E: CD3 epsilon subunit of T-cell receptor complex. Component: plasma membrane.",
]


@pytest.mark.slow
def test_smollm2_real_batch_independence() -> None:
    encoder = registry.load("smollm2", device="cpu")
    assert encoder.spec.spec_sha256() == registry.resolve("smollm2").spec_sha256()
    alone = np.stack([encoder.encode([t])[0] for t in GENE_TEXTS])
    np.testing.assert_allclose(encoder.encode(GENE_TEXTS), alone, atol=1e-5)
    assert alone.shape == (3, 576)


@pytest.mark.slow
def test_minilm_bf16_stays_close_to_float32() -> None:
    full = registry.load("minilm", device="cpu").encode(GENE_TEXTS)
    half = registry.load("minilm-bf16", device="cpu").encode(GENE_TEXTS)
    assert (full * half).sum(axis=1).min() > 0.999


@pytest.mark.slow
def test_mpnet_from_split_wheels() -> None:
    from genekb.encoders.packaged import MPNET, assembled_dir, split_parts

    if assembled_dir(MPNET) is None and split_parts(MPNET) is None:
        pytest.skip("all-mpnet-base-v2 split wheels not installed (make setup-mpnet)")
    encoder = registry.load("mpnet", device="cpu")
    assert encoder.spec.spec_sha256() == registry.resolve("mpnet").spec_sha256()
    vectors = encoder.encode(GENE_TEXTS)
    assert vectors.shape == (3, 768)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
