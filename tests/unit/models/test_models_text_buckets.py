"""text_embedding's length-bucketed batches give the vectors of the plain, unbucketed encode."""
from __future__ import annotations

import numpy as np
from models_helpers import inference, run

TEXTS = [
    "a cat",
    "the quick brown fox jumps over the lazy dog " * 40,  # longer than max_seq_length: truncated alike
    "hello world",
    "a dog running on the green grass in the park",
    "",
    "a photo of a cat sitting on a red sofa, " * 3,
    "x",
]


def test_bucketed_batches_equal_one_unbucketed_batch_in_request_order(tiny_dirs):
    module = inference("text_embedding")
    model = module.model_fn(tiny_dirs("text_embedding"))
    st = model["model"]

    # The reference: sentence-transformers' own encode, every text padded to the longest of all.
    plain = st.encode(TEXTS, batch_size=len(TEXTS), normalize_embeddings=True, convert_to_numpy=True)
    bucketed = np.array(run(module, model, TEXTS, {"batch_size": 2})["outputs"])

    assert bucketed.shape == plain.shape
    np.testing.assert_allclose(bucketed, plain, atol=1e-5)


def test_buckets_hold_similar_lengths_longest_first_and_cover_every_index():
    module = inference("text_embedding")
    buckets = module.length_buckets([3, 50, 7, 49, 3, 12], 2)
    assert buckets == [[1, 3], [5, 2], [0, 4]]
