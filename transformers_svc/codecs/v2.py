"""KServe v2 tensors of the per-revision services: an INT64 `rev_id` tensor in, one row
out per input row in input order.

In: `rev_id`, INT64, shape `[n]` or `[n, 1]`, 1 <= n <= the request limit, every value a
MediaWiki revision id. Anything else is a 400 naming the problem (never a 500, never a
silent reinterpretation of 3.7, true or "4" as a revision).
Out: `probabilities` FP32 `[n, labels]` (NaN, null in JSON, for a row that failed) and `error` BYTES `[n]`
(empty for a scored row, `"<Type>: <message>"` for a failed one): row i answers input i,
duplicates included.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse

from transformers_svc.errors import BadRequest, ServiceError
from transformers_svc.settings import MEDIAWIKI_MAX_REV_ID

INPUT = "rev_id"


def rev_ids(request: InferRequest, limit: int) -> list[int]:
    """The revision ids of a v2 request, checked."""
    tensors = [t for t in request.inputs if t.name == INPUT]
    if len(tensors) != 1 or len(request.inputs) != 1:
        raise BadRequest(f"v2 requests need exactly one input tensor, named {INPUT!r}")
    tensor = tensors[0]
    if tensor.datatype != "INT64":
        raise BadRequest(f"{INPUT!r} must be INT64, not {tensor.datatype}")
    shape = list(tensor.shape)
    if not (len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)) or any(
            not isinstance(d, int) or d < 0 for d in shape):
        raise BadRequest(f"{INPUT!r} must have shape [n] or [n, 1], not {shape}")
    count = math.prod(shape)
    if not 1 <= count <= limit:
        raise BadRequest(f"{INPUT!r} must hold 1 to {limit} revision ids, its shape says {count}")
    if isinstance(tensor.data, list):  # JSON data (binary data arrives as bytes, typed by the datatype)
        flat = _flatten(tensor.data)
        if len(flat) != count:
            raise BadRequest(f"{INPUT!r} has {len(flat)} values, its shape says {count}")
        if any(isinstance(v, bool) or not isinstance(v, int) for v in flat):
            raise BadRequest(f"{INPUT!r} values must be integers")
    try:
        values = np.asarray(tensor.as_numpy()).ravel()
    except (ValueError, TypeError, OverflowError) as exc:
        raise BadRequest(f"{INPUT!r} cannot be read as INT64 of shape {shape} ({exc})") from None
    if values.size != count:
        raise BadRequest(f"{INPUT!r} has {values.size} values, its shape says {count}")
    ids = [int(v) for v in values]
    bad = next((i for i in ids if not 1 <= i <= MEDIAWIKI_MAX_REV_ID), None)
    if bad is not None:
        raise BadRequest(f"{bad} is not a MediaWiki revision id (1 to {MEDIAWIKI_MAX_REV_ID})")
    return ids


def _flatten(data: list) -> list:
    out: list = []
    for item in data:
        out.extend(_flatten(item) if isinstance(item, list) else [item])
    return out


def response(model: str, version: str, width: int, rows: Sequence[np.ndarray | None], errors: Sequence[ServiceError | None]
             ) -> InferResponse:
    """Row i of `probabilities` and `error` answers input row i."""
    probabilities = np.full((len(rows), width), np.nan, dtype=np.float32)
    for i, row in enumerate(rows):
        if row is not None:
            probabilities[i] = row
    messages = np.array([f"{e.kind}: {e.message}".encode() if e is not None else b"" for e in errors], dtype=object)
    out = InferOutput(name="probabilities", shape=list(probabilities.shape), datatype="FP32")
    out.set_data_from_numpy(probabilities, binary_data=False)
    err = InferOutput(name="error", shape=[len(rows)], datatype="BYTES")
    err.set_data_from_numpy(messages, binary_data=False)
    return InferResponse(response_id="", model_name=model, model_version=version, infer_outputs=[out, err])
