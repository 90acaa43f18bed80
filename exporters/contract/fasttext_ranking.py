"""fastText's label order, rebuilt from the graph's probabilities (every label, in label order).

Why: fastText ranks with a libstdc++ heap (`std::push_heap` per label, then
`std::sort_heap`) keyed on float32 `std_log(p) = log(p + 1e-5)`. For tied scores, common
with one-vs-all (its lookup-table sigmoid saturates at 1.0), the order it reports is the
heap's, neither index order nor a stable sort. This replays those heap operations, so the
services answer `predict(text, k, threshold)`'s labels in fastText's own order, and the
export's parity check can require fastText's top label exactly.

`push_order` is the order labels are offered: label order for softmax / ova / ns; for
hierarchical softmax the tree search's leaf order (`hs_leaf_order` in the vocabulary),
whose pruning of paths under `std_log(threshold)` is applied at the leaf (it can differ
only for a label whose `p + 1e-5` lies within a relative `depth * 1e-5` of the cut).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

STD_LOG_EPS = 1e-5


def _greater(a: tuple[float, int], b: tuple[float, int]) -> bool:
    return a[0] > b[0]  # loss.cc comparePairs: scores only


def _push_heap(h: list[tuple[float, int]], hole: int, top: int, value: tuple[float, int]) -> None:
    parent = (hole - 1) // 2
    while hole > top and _greater(h[parent], value):
        h[hole] = h[parent]
        hole = parent
        parent = (hole - 1) // 2
    h[hole] = value


def _adjust_heap(h: list[tuple[float, int]], hole: int, length: int, value: tuple[float, int]) -> None:
    top = child = hole
    while child < (length - 1) // 2:
        child = 2 * (child + 1)
        if _greater(h[child], h[child - 1]):
            child -= 1
        h[hole] = h[child]
        hole = child
    if (length & 1) == 0 and child == (length - 2) // 2:
        child = 2 * (child + 1)
        h[hole] = h[child - 1]
        hole = child - 1
    _push_heap(h, hole, top, value)


def _pop_heap(h: list[tuple[float, int]], length: int) -> None:
    """`std::pop_heap` on h[:length]: the top goes to h[length - 1]."""
    if length > 1:
        value = h[length - 1]
        h[length - 1] = h[0]
        _adjust_heap(h, 0, length - 1, value)


def rank_like_fasttext(probabilities: Sequence[float] | np.ndarray, k: int = -1, threshold: float = 0.0,
                       push_order: Sequence[int] | None = None) -> list[tuple[int, float]]:
    """(label index, probability) best first, exactly as `predict(text, k, threshold)`
    returns them. `probabilities` is one row of the graph's output (`p + 1e-5`)."""
    q = np.asarray(probabilities, dtype=np.float32)
    # fastText's key is float32(std_log(p)); the graph returns expf(key), so log gives it back.
    keys = np.log(q.astype(np.float64)).astype(np.float32)
    n = len(q)
    limit = n if k is None or k < 0 else k
    if push_order is None:  # findKBest skips p < threshold
        order: Sequence[int] = range(n)
        keep = (q.astype(np.float64) - STD_LOG_EPS >= threshold) if threshold > 0 else np.ones(n, bool)
    else:  # hs: the tree search prunes scores below std_log(threshold)
        order = push_order
        keep = keys >= np.float32(np.log(threshold + STD_LOG_EPS))
    heap: list[tuple[float, int]] = []
    for i in order:
        if not keep[i]:
            continue
        key = float(keys[i])
        if len(heap) == limit and key < heap[0][0]:
            continue
        heap.append((key, int(i)))
        _push_heap(heap, len(heap) - 1, 0, heap[-1])
        if len(heap) > limit:
            _pop_heap(heap, len(heap))
            heap.pop()
    for end in range(len(heap), 1, -1):  # std::sort_heap
        _pop_heap(heap, end)
    return [(i, float(q[i])) for _, i in heap]
