"""Sentence embeddings behind Triton (`mini-embedding`): text -> tokens -> Triton -> a
384-float vector; and related articles from a FAISS index of a wiki's pages built with
the same model (`index.py`), answered by the same service."""
