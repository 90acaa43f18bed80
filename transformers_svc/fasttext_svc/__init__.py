"""The fastText services: `langid` (a text's language) and `outlink-topic-model` (an
article's topics from the Wikidata ids of the pages it links to), on Lift Wing's APIs.

The tokeniser runs here (`encoder`: Lift Wing's text normalisation, then fastText's ids,
from the vocabulary file beside the model); the numbers run in Triton (the ONNX graph of
`exporters.fasttext`); the answer keeps fastText's own label order (`rank_like_fasttext`).
"""
