"""`model.yaml`, the model card: the typed contract between exporters, the store and services.

Every exporter writes a `ModelCard`; every reader (the services, the store, chart values,
benchmarks) loads it through `read_card`, which validates it: a missing or unknown field
is one `CardError` naming the file. It records what a server cannot tell from the model
file: where the model came from, which service serves it and for which wiki, the features
in order, labels, statistics, library versions and the parity result.

Schema versions: 2 is current. Cards of the first round (no `schema_version`) are read
and upgraded in memory by `_upgrade_v1`; anything else is refused with how to re-export.
"""

from __future__ import annotations

import datetime as dt
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from exporters.contract.errors import CardError
from exporters.contract.layout import CARD, TOKENIZER

SCHEMA_VERSION = 2

Family = Literal["tree", "transformer", "fasttext", "seq2seq"]
Task = Literal[
    "classification", "multilabel-classification",  # tree and fastText classifiers
    "sequence-classification", "feature-extraction", "sentence-embedding",  # transformers
    "text-generation",  # encoder-decoders
]
# Which transformer service (transformers_svc) answers for the model; None: Triton only.
Service = Literal[
    "revscoring", "text-classification", "revertrisk-language-agnostic", "langid", "outlink-topic-model",
    "embedding", "article-descriptions",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Tensor(_Strict):
    """An input or output as Triton sees it; `shape` includes the batch dim (-1)."""

    name: str
    datatype: str
    shape: list[int]


class Parity(_Strict):
    rows: int
    max_abs_diff: float
    tolerance: float
    labels_identical: bool
    label_agreement: float
    inputs: str
    passed: bool


class Source(_Strict):
    """The original the entry was exported from: its kind and each file's sha512."""

    kind: str  # revscoring, sklearn, xgboost, lightgbm, huggingface, fasttext
    name: str  # the file or directory name
    sha512: dict[str, str] = Field(default_factory=dict)
    class_name: str | None = None


class Exporter(_Strict):
    name: str
    version: str


class Tokenizer(_Strict):
    path: str = TOKENIZER
    sha512: dict[str, str] = Field(default_factory=dict)


class Int8(_Strict):
    """What int8 quantisation changed against fp32 on the parity inputs."""

    recipe: str = "dynamic"
    max_abs_diff: float
    tolerance: float | None = None
    label_agreement: float
    min_cosine_similarity: float
    min_cosine: float | None = None
    fp32_bytes: int
    int8_bytes: int
    tried: list[dict[str, Any]] = Field(default_factory=list)


class TransformerInfo(_Strict):
    format: Literal["onnx", "torchscript"]
    model_file: str
    model_type: str
    architectures: list[str] = Field(default_factory=list)
    max_sequence_length: int
    opset: int | None = None
    onnx_exporter: str
    optimization: str | None = None
    quantize: Literal["int8"] | None = None
    int8: Int8 | None = None
    tokenizer: Tokenizer


class FastTextInfo(_Strict):
    """fastText's own hyper-parameters: what the service's tokeniser must reproduce."""

    loss: Literal["softmax", "hs", "ova", "ns"]
    dim: int
    bucket: int
    minn: int
    maxn: int
    word_ngrams: int
    quantized: bool
    vocabulary_file: str  # in the version folder: the words and ids the service hashes against
    max_text_chars: int | None = None  # the service cuts a text to this many characters (None: never)


class Seq2SeqInt8(_Strict):
    """What int8 quantisation changed against the fp32 graphs on the parity inputs."""

    recipe: str = "dynamic (onnxruntime quantize_dynamic, QInt8 weights)"
    exact: dict[str, str]  # mode (greedy, beam2, beam4) -> inputs whose hypotheses are all identical, "n/N"
    agreement: dict[str, float]  # mode -> position-wise agreement of the best hypothesis
    first_step_max_abs_diff: float
    fp32_bytes: int
    int8_bytes: int


class Seq2SeqInfo(_Strict):
    """An encoder-decoder served as two entries: `encoder` (an ONNX entry: the encoder and
    every decoder layer's cross-attention keys/values) and `decoder` (the generator: a
    Python-backend entry that keeps each sequence's caches and runs decoder steps); what the
    service needs to build sources and run the search."""

    model_type: str
    architectures: list[str] = Field(default_factory=list)
    encoder: str  # the repository entry names
    decoder: str
    decoder_file: str = "decoder.onnx"
    encoder_version: int  # the encoder version this generator version calls
    opset: int
    onnx_exporter: str
    quantize: Literal["int8"] | None = None
    int8_token_agreement: float | None = None  # mean over modes of int8's best-hypothesis agreement
    int8: Seq2SeqInt8 | None = None
    generation: dict[str, Any] = Field(default_factory=dict)  # generation_config.json as exported
    token_parity: dict[str, str] = Field(default_factory=dict)  # mode -> "n/N" identical to generate()
    tokenizer: Tokenizer
    vocab_size: int
    num_layers: int
    num_heads: int
    head_dim: int
    max_positions: int
    max_rows: int  # sequences (beams) the generator holds at once
    languages: dict[str, str] = Field(default_factory=dict)  # wiki language -> the model's language code
    source_layout: Literal["suffix", "prefix"] = "suffix"  # cc25: tokens </s> code; mBART-50: code tokens </s>
    target_language: Literal["decoder_start", "forced_bos"] = "decoder_start"  # how the output language is set


class WordVectorsInfo(_Strict):
    """A revscoring word-vector mean (articletopic, drafttopic) computed inside the graph: the
    service solves `words` in the feature's place and sends their rows as `word_ids`."""

    feature: str  # the vector feature's name, as `features` lists it
    feature_index: int  # its position in `features`
    column: int  # its first column in the estimator's input
    dim: int
    words: str  # the words datasource the service solves instead
    vocabulary_file: str  # line i = the word of row i
    vectors_file: str  # float32 [vocabulary_size, dim] (.npy), the table the graph holds
    vocabulary_size: int
    vectors_sha256: str


class ModelCard(_Strict):
    schema_version: Literal[2] = SCHEMA_VERSION
    name: str
    family: Family
    task: Task
    service: Service | None = None
    wiki_db: str | None = None
    model_version: str
    created: str = Field(default_factory=lambda: dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
    demonstration: bool = False  # trained here on generated or fixture data: for shape and speed
    description: str = ""
    source: Source
    inputs: list[Tensor]
    outputs: list[Tensor]
    labels: list[str] = Field(default_factory=list)
    multilabel: bool = False
    features: list[str] = Field(default_factory=list)
    params: dict[str, Any] = Field(default_factory=dict)
    statistics: Any = None
    parity: Parity
    exporter: Exporter
    libraries: dict[str, str] = Field(default_factory=dict)
    transformer: TransformerInfo | None = None
    fasttext: FastTextInfo | None = None
    seq2seq: Seq2SeqInfo | None = None
    word_vectors: WordVectorsInfo | None = None

    def input(self, name: str) -> Tensor:
        return next(t for t in self.inputs if t.name == name)


def library_versions(names: Iterable[str]) -> dict[str, str]:
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def exporter_info(kind: str) -> Exporter:
    return Exporter(name=f"liftwing-triton {kind} exporter", version=metadata.version("liftwing-triton"))


def write_card(version_dir: Path, card: ModelCard) -> Path:
    path = version_dir / CARD
    path.write_text(yaml.safe_dump(card.model_dump(mode="json"), sort_keys=False, allow_unicode=True))
    return path


def read_card(version_dir: Path) -> ModelCard:
    """The validated card of a version; CardError naming the file on any problem."""
    path = Path(version_dir) / CARD
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise CardError(f"{path}: no model card") from None
    except (OSError, yaml.YAMLError) as exc:
        raise CardError(f"{path}: cannot read the model card ({str(exc).splitlines()[0]})") from exc
    if not isinstance(raw, dict):
        raise CardError(f"{path}: the model card is not a mapping")
    if "schema_version" not in raw:
        raw = _upgrade_v1(raw, Path(version_dir))
    elif raw["schema_version"] != SCHEMA_VERSION:
        raise CardError(f"{path}: model card schema {raw['schema_version']!r} is not one this version reads "
                        f"({SCHEMA_VERSION}); re-export the model with this version's `lwt export`")
    try:
        return ModelCard.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top)"
        raise CardError(f"{path}: invalid model card: {where}: {first['msg']} "
                        f"({exc.error_count()} problem(s)); re-export with `lwt export`") from None


def wiki_of(name: str) -> str | None:
    """`enwiki-reverted` -> `enwiki`: the naming convention of Lift Wing's model names."""
    head = name.split("-", 1)[0]
    return head if head.endswith("wiki") and head != name else None


def _tensors(spec: Any) -> list[dict[str, Any]]:
    """v1 wrote tensors as `{name: {datatype, shape}}` (tree) or a list of names (transformer)."""
    if isinstance(spec, dict):
        return [{"name": n, "datatype": v["datatype"], "shape": list(v["shape"])} for n, v in spec.items()]
    return [{"name": n, "datatype": "INT64", "shape": [-1, -1]} for n in spec or []]


def _upgrade_v1(raw: dict[str, Any], version_dir: Path) -> dict[str, Any]:
    """A first-round card in today's shape (both of its writers, tree and transformer)."""
    path = version_dir / CARD
    source = raw.get("source") or {}
    common = {
        "name": raw.get("name") or version_dir.parent.name,
        "task": raw.get("task"), "created": str(raw.get("created", "")),
        "labels": [str(label) for label in raw.get("labels") or []],
        "parity": raw.get("parity"), "libraries": raw.get("libraries") or {},
        "exporter": raw.get("exporter") if isinstance(raw.get("exporter"), dict) else
        {"name": "liftwing-triton (schema 1)", "version": "0.1.0"},
        "wiki_db": raw.get("wiki_db") or wiki_of(raw.get("name") or version_dir.parent.name),
        "model_version": str(raw.get("model_version") or version_dir.name),
    }
    if source.get("kind") == "huggingface":
        output = raw.get("output", "logits")
        return {**common, "family": "transformer",
                "service": "text-classification" if raw.get("task") == "sequence-classification" else None,
                "source": {"kind": "huggingface", "name": source.get("directory", ""),
                           "sha512": source.get("sha512") or {}},
                "inputs": _tensors(raw.get("inputs")),
                "outputs": [{"name": output, "datatype": "FP32", "shape": [-1, *raw.get("output_dims", [])]}],
                "transformer": {
                    "format": raw.get("format", "onnx"), "model_file": raw.get("model_file", "model.onnx"),
                    "model_type": source.get("model_type", ""), "architectures": source.get("architectures") or [],
                    "max_sequence_length": raw.get("max_sequence_length", 512), "opset": raw.get("opset"),
                    "onnx_exporter": "unknown (schema 1)", "optimization": raw.get("optimization"),
                    "quantize": raw.get("quantize"), "tokenizer": raw.get("tokenizer") or {},
                    "int8": None}}
    if "features" not in raw:
        raise CardError(f"{path}: a model card of an unknown first-round shape; re-export the model")
    return {**common, "family": "tree",
            "service": "revscoring" if source.get("kind") == "revscoring" else None,
            "source": {"kind": source.get("kind", "unknown"), "name": source.get("file", ""),
                       "sha512": {source.get("file", ""): source["sha512"]} if source.get("sha512") else {},
                       "class_name": source.get("class")},
            "inputs": _tensors(raw.get("inputs")), "outputs": _tensors(raw.get("outputs")),
            "multilabel": bool(raw.get("multilabel")), "features": raw.get("features") or [],
            "params": raw.get("params") or {}, "statistics": raw.get("statistics")}
