"""`lwt export fasttext`: a fastText supervised model (`.bin`, or quantized `.ftz`) -> an ONNX
graph computing what `predict(text, k=-1)` computes from input ids, its vocabulary file for
the services' tokeniser, a parity check against the fasttext package, one atomic version.

`model_file` reads the file format (no `fasttext` import), `hs_tree` rebuilds the
hierarchical-softmax tree, `graph` builds the ONNX graph, `vocabulary` writes what the
tokeniser (`exporters.contract.fasttext_tokens`) reads, `texts` generates the parity
texts, `parity_check` compares with the fasttext package, `export` writes the entry.
"""
