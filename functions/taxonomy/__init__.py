"""Taxonomy labels and object-level vectors: zero-shot labels from stored embeddings, "more like this"."""
