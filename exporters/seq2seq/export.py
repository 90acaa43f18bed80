"""`lwt export seq2seq`: an mBART `save_pretrained` folder -> two verified Triton entries.

    REPOSITORY/NAME-encoder/config.pbtxt      backend onnxruntime, dynamic batching
    REPOSITORY/NAME-encoder/<v>/model.onnx    the encoder + cross-attention K/V (graphs.py)
    REPOSITORY/NAME/config.pbtxt              backend python, every input optional, one instance
    REPOSITORY/NAME/<v>/model.py              the generator (triton_model.py, byte for byte)
    REPOSITORY/NAME/<v>/decoder.onnx          one decoding step with top-k (graphs.py)
    REPOSITORY/NAME/<v>/encoder.json          the encoder entry and version this version calls
    REPOSITORY/NAME/<v>/tokenizer/, generation_config.json, config.json
    both versions: model.yaml (the card, family seq2seq), SHA512SUMS

Both versions are staged outside the repository and published only when the parity check
passed (parity.py: tokens identical to `model.generate()` for greedy, beam 2 and beam 4 on
the sample leads, first-step logits within the tolerance); a failed check writes nothing.
`--quantize int8` checks the fp32 graphs, then quantises both and records how often int8
still gives the same tokens.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from google.protobuf import text_format
from tqdm import tqdm

from exporters.contract.card import (ModelCard, Parity, Seq2SeqInfo, Seq2SeqInt8, Source, Tensor as CardTensor,
                                     Tokenizer, exporter_info, library_versions, write_card)
from exporters.contract.errors import ExportError
from exporters.contract.layout import (CONFIG, TOKENIZER, check_model_name, next_version, publish_model_files,
                                       sha512_file, staged_version)
from exporters import parity as shared_parity
from exporters.seq2seq import graphs, loading, parity, triton_model
from exporters.seq2seq.search import Settings
from exporters.seq2seq.sources import language_codes, layout_of
from exporters.triton_config import EntryConfig, Tensor, read_config, render_config

LIBRARIES = ("torch", "transformers", "onnx", "onnxruntime", "tokenizers", "numpy")
GENERATOR_INPUTS = ("input_ids", "attention_mask", "beams", "handle", "beam", "parent", "token", "position",
                    "top_k", "release")
PAIRING = "encoder.json"


@dataclass
class Seq2SeqExportOptions:
    name: str
    repository: Path
    quantize: str | None = None
    max_batch_size: int = 64  # rows (beams of all requests) the generator holds; the encoder's batch
    gpu: bool = False
    instance_count: int = 1  # encoder instances (the generator keeps state: always one)
    version: int | None = None
    force: bool = False
    tolerance: float = 1e-4  # first-step logits, absolute
    parity_inputs: int = 26  # every sample lead
    progress: bool = True
    wiki_db: str | None = None
    idle_seconds: float = 300.0
    threads: int = 0  # onnxruntime intra-op threads of both entries (0: its default, one per core)
    demonstration: bool = False  # random weights (synthetic.py): for shape and speed, not quality


def encoder_name(name: str) -> str:
    return f"{name}-encoder"


def _check_backend(model_dir: Path, backend: str) -> None:
    """Triton runs every version of a model with one backend: refuse to mix them."""
    if (model_dir / CONFIG).is_file():
        existing = read_config(model_dir / CONFIG).backend
        if existing != backend:
            raise ExportError(f"{model_dir.name} is served by the {existing} backend; export under another --name")


def _configs(options: Seq2SeqExportOptions, spec: graphs.Spec, pad_id: int) -> tuple[str, str]:
    kv = (spec.heads, -1, spec.head_dim)
    encoder = EntryConfig(
        name=encoder_name(options.name), backend="onnxruntime",
        inputs=[Tensor(n, "TYPE_INT64", (-1,)) for n in graphs.ENCODER_INPUTS],
        outputs=[Tensor(n, "TYPE_FP32", kv) for n in graphs.kv_names("cross", spec.layers)],
        max_batch_size=options.max_batch_size, instance_count=options.instance_count, gpu=options.gpu,
        max_queue_delay_microseconds=500, parameters={"intra_op_thread_count": str(options.threads)})
    generator = EntryConfig(
        name=options.name, backend="python", max_batch_size=0, instance_count=1, gpu=options.gpu,
        inputs=[Tensor(n, "TYPE_INT64", (-1,) if n not in ("input_ids", "attention_mask") else (-1, -1))
                for n in GENERATOR_INPUTS],
        outputs=[Tensor("handle", "TYPE_INT64", (-1,)), Tensor("top_ids", "TYPE_INT64", (-1, -1)),
                 Tensor("top_logits", "TYPE_FP32", (-1, -1)), Tensor("logsumexp", "TYPE_FP32", (-1,)),
                 Tensor("active_rows", "TYPE_INT64", (1,))],
        parameters={"encoder_model": encoder_name(options.name), "encoder_max_batch_size": str(options.max_batch_size),
                    "max_rows": str(options.max_batch_size), "idle_seconds": f"{options.idle_seconds:g}",
                    "pad_token_id": str(pad_id), "decoder_file": "decoder.onnx",
                    "intra_op_thread_count": str(options.threads)})
    message = generator.to_message()
    for tensor in message.input:
        tensor.optional = True  # which inputs a request has says which operation it is
    return render_config(encoder), text_format.MessageToString(message)


def _card(options: Seq2SeqExportOptions, name: str, model_dir: Path, version: int, info: Seq2SeqInfo,
          result: Parity, inputs: list[CardTensor], outputs: list[CardTensor], service: bool) -> ModelCard:
    return ModelCard(
        name=name, family="seq2seq", task="text-generation", service="article-descriptions" if service else None,
        wiki_db=options.wiki_db, model_version=str(version),
        demonstration=options.demonstration,
        description="mBART-style encoder-decoder for short article descriptions; "
                    + ("the generator entry (decoder steps, caches kept in Triton)" if service else
                       "the encoder entry (encoder + cross-attention keys/values)"),
        source=Source(kind="huggingface", name=model_dir.name,
                      sha512={p.name: sha512_file(p) for p in sorted(model_dir.iterdir())
                              if p.is_file() and p.suffix in (".safetensors", ".bin", ".json")}),
        inputs=inputs, outputs=outputs, parity=result, exporter=exporter_info("seq2seq"),
        libraries=library_versions(LIBRARIES), seq2seq=info)


def _int8(local_fp32_bytes: int, enc: Path, dec: Path, settings: Settings, sources: list[list[int]],
          reference: dict[int, list[np.ndarray]], fp32_logits: np.ndarray, vocab: int, pad: int) -> Seq2SeqInt8:
    graphs.quantize(enc, enc)
    graphs.quantize(dec, dec)
    local = parity.LocalGenerator(enc, dec, vocab, pad)
    modes = parity.against_reference(local, sources, settings, reference)
    logits: list[np.ndarray] = []
    for source in sources:
        local.generate(source, settings.with_(num_beams=1, max_length=2, forced_bos_token_id=None,
                                              forced_eos_token_id=None, min_length=0), step_logits=logits)
    int8_bytes = sum(p.stat().st_size for p in (*enc.parent.glob(enc.name + "*"), *dec.parent.glob(dec.name + "*")))
    return Seq2SeqInt8(exact={m.label: m.summary() for m in modes.values()},
                       agreement={m.label: round(m.agreement, 4) for m in modes.values()},
                       first_step_max_abs_diff=float(np.abs(np.concatenate(logits) - fp32_logits).max()),
                       fp32_bytes=local_fp32_bytes, int8_bytes=int8_bytes)


def export_seq2seq(model_dir: Path, options: Seq2SeqExportOptions) -> dict[str, Any]:
    model_dir = Path(model_dir)
    repository = Path(options.repository)
    name, enc_name = check_model_name(options.name), check_model_name(encoder_name(options.name))
    if options.quantize not in (None, "int8"):
        raise ExportError(f"unknown --quantize {options.quantize!r} (int8)")
    if options.parity_inputs < 1:
        raise ExportError("--parity-inputs must be at least 1")
    _check_backend(repository / enc_name, "onnxruntime")
    _check_backend(repository / name, "python")
    version = options.version or max(next_version(repository / name), next_version(repository / enc_name))
    steps = tqdm(total=5, desc=f"export {name}", unit="step", disable=not options.progress)
    model, tokenizer, generation = loading.load(model_dir)
    small = sum(p.numel() for p in model.parameters()) < 50_000_000
    threads = torch.get_num_threads()
    torch.set_num_threads(1 if small else threads)  # tiny generate() calls: one thread is faster
    try:
        settings = loading.base_settings(generation, model.config)
        codes = language_codes(tokenizer)
        sources = loading.parity_sources(tokenizer, codes, options.parity_inputs, settings.eos_token_ids[0])
        steps.update()
        with staged_version(repository, enc_name, version, options.force) as (enc_dir, _), \
                staged_version(repository, name, version, options.force) as (gen_dir, _):
            encoder, decoder = enc_dir / "model.onnx", gen_dir / "decoder.onnx"
            try:
                spec = graphs.export_graphs(model, encoder, decoder)
            except Exception as exc:  # noqa: BLE001 - torch's exporter raises many kinds
                raise ExportError(f"ONNX export failed: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
                                  ) from exc
            steps.update()
            local = parity.LocalGenerator(encoder, decoder, spec.vocab_size, settings.pad_token_id)
            result, modes, ours = parity.against_hf(model, local, sources, settings, options.tolerance)
            shared_parity.require(result)
            steps.update()
            int8 = None
            if options.quantize == "int8":
                fp32_bytes = sum(p.stat().st_size for p in (*enc_dir.glob("model.onnx*"), *gen_dir.glob("decoder.onnx*")))
                _, fp32_logits = parity.first_step_logits(model, local, sources, settings)
                int8 = _int8(fp32_bytes, encoder, decoder, settings, sources, ours, fp32_logits, spec.vocab_size,
                             settings.pad_token_id)
            steps.update()
            shutil.copyfile(triton_model.__file__, gen_dir / "model.py")
            (gen_dir / PAIRING).write_text(json.dumps({"model": enc_name, "version": version}) + "\n")
            tokenizer.save_pretrained(str(gen_dir / TOKENIZER))
            (gen_dir / TOKENIZER / "chat_template.jinja").unlink(missing_ok=True)
            for extra in ("config.json", "generation_config.json"):
                if (model_dir / extra).is_file():
                    shutil.copyfile(model_dir / extra, gen_dir / extra)
            info = Seq2SeqInfo(
                model_type=model.config.model_type, architectures=list(model.config.architectures or []),
                encoder=enc_name, decoder=name, encoder_version=version, opset=graphs.OPSET,
                onnx_exporter="torch.onnx.export (own encoder and decoder-step graphs; optimum's decoders cannot "
                              "batch rows at different steps)",
                quantize=options.quantize,  # type: ignore[arg-type]
                int8_token_agreement=round(float(np.mean(list(int8.agreement.values()))), 4) if int8 else None,
                int8=int8, generation=generation, token_parity={m.label: m.summary() for m in modes.values()},
                tokenizer=Tokenizer(path=TOKENIZER, sha512={p.name: sha512_file(p) for p in
                                                            sorted((gen_dir / TOKENIZER).iterdir()) if p.is_file()}),
                vocab_size=spec.vocab_size, num_layers=spec.layers, num_heads=spec.heads, head_dim=spec.head_dim,
                max_positions=spec.max_positions, max_rows=options.max_batch_size, languages=codes,
                source_layout=layout_of(tokenizer), target_language=loading.target_language(settings, codes, tokenizer))  # type: ignore[arg-type]
            ids = [CardTensor(name=n, datatype="INT64", shape=[-1, -1]) for n in graphs.ENCODER_INPUTS]
            cross = [CardTensor(name=n, datatype="FP32", shape=[-1, spec.heads, -1, spec.head_dim])
                     for n in graphs.kv_names("cross", spec.layers)]
            write_card(enc_dir, _card(options, enc_name, model_dir, version, info, result, ids, cross, False))
            gen_in = [CardTensor(name=n, datatype="INT64", shape=[-1, -1] if n in ("input_ids", "attention_mask")
                                 else [-1]) for n in GENERATOR_INPUTS]
            gen_out = [CardTensor(name="handle", datatype="INT64", shape=[-1]),
                       CardTensor(name="top_ids", datatype="INT64", shape=[-1, -1]),
                       CardTensor(name="top_logits", datatype="FP32", shape=[-1, -1]),
                       CardTensor(name="logsumexp", datatype="FP32", shape=[-1]),
                       CardTensor(name="active_rows", datatype="INT64", shape=[1])]
            write_card(gen_dir, _card(options, name, model_dir, version, info, result, gen_in, gen_out, True))
    finally:
        torch.set_num_threads(threads)
    encoder_config, generator_config = _configs(options, spec, settings.pad_token_id)
    publish_model_files(repository, enc_name, encoder_config, None)
    publish_model_files(repository, name, generator_config, None)
    steps.update()
    steps.close()
    return {"name": name, "version": version, "path": str(repository.resolve() / name / str(version)),
            "encoder": str(repository.resolve() / enc_name / str(version)), "parity": result.model_dump(),
            "token_parity": info.token_parity, **({"int8": int8.model_dump()} if int8 else {})}
