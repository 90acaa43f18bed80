"""The hierarchical-softmax label tree, rebuilt from the label counts the model file holds.

fastText never saves the tree: `HierarchicalSoftmaxLoss::buildTree` rebuilds it at load
time with a two-queue Huffman construction over the counts in dictionary order (sorted by
count, descending). This is a direct port; internal node `i` uses output row `i - osz`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class HuffmanTree:
    """paths[i]: output rows from leaf i up to the root; codes[i]: the branch taken at each
    (True: right, probability f = sigmoid(score); False: left, 1 - f)."""

    paths: list[list[int]]
    codes: list[list[bool]]
    left: list[int]
    right: list[int]


def build_hs_tree(counts: np.ndarray) -> HuffmanTree:
    osz = len(counts)
    n = 2 * osz - 1
    parent, left, right = [-1] * n, [-1] * n, [-1] * n
    count = [int(1e15)] * n
    binary = [False] * n
    for i in range(osz):
        count[i] = int(counts[i])
    leaf, node = osz - 1, osz
    for i in range(osz, n):
        mini = [0, 0]
        for j in range(2):
            if leaf >= 0 and count[leaf] < count[node]:
                mini[j] = leaf
                leaf -= 1
            else:
                mini[j] = node
                node += 1
        left[i], right[i] = mini
        count[i] = count[mini[0]] + count[mini[1]]
        parent[mini[0]] = parent[mini[1]] = i
        binary[mini[1]] = True
    paths, codes = [], []
    for i in range(osz):
        path, code = [], []
        j = i
        while parent[j] != -1:
            path.append(parent[j] - osz)
            code.append(binary[j])
            j = parent[j]
        paths.append(path)
        codes.append(code)
    return HuffmanTree(paths, codes, left, right)


def hs_leaf_order(tree: HuffmanTree) -> list[int]:
    """Labels in the order `HierarchicalSoftmaxLoss::dfs` reaches them (the `1 - f` branch
    first): fastText pushes them onto its ranking heap in this order, which orders ties."""
    osz = len(tree.paths)
    if osz == 1:
        return [0]
    order: list[int] = []
    stack = [2 * osz - 2]
    while stack:
        node = stack.pop()
        if tree.left[node] == -1 and tree.right[node] == -1:
            order.append(node)
        else:
            stack.append(tree.right[node])
            stack.append(tree.left[node])
    return order
