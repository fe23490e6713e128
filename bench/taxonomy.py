"""Taxonomy labels and "more like this", measured on a public labelled text set.

    .venv/bin/python bench/taxonomy.py DATA.csv [--train 400] [--shots 0,4,16] [--limit N]
        [--queries 200] [--objects 100000]

DATA: the AG News CSV layout (class index 1-4, title, description; bench/README.md says where the
public copy came from). The first `--train` rows of a seeded shuffle are the small labelled
split, the rest (at most `--limit`) the test split. Every text (title and description) is
embedded by the pipeline's text_embedding model server (all-MiniLM-L6-v2 under the SageMaker
Hugging Face toolkit, as the local run starts it), and the label texts of
bench/ag_news_taxonomy.json by the same model, through functions/taxonomy's label_vectors:

* **zero-shot**: each label's description;
* **few-shot (n)**: the description moved towards n examples per class from the labelled split
  (the taxonomy file's `examples`);
* **TF-IDF + logistic regression** (scikit-learn) trained on the labelled split: the baseline.

Prints macro-F1 and accuracy on the test split. Then recommendations: every test text stored as
an object (its vector as its object vector, V008) in a throw-away database, and for `--queries`
of them functions/search/similar.py `similar_to` (k 10): precision@10 of same-class neighbours
with and without diversity, p50/p95 latency; then the table filled with clustered synthetic
object vectors up to `--objects` and timed again.
"""
from __future__ import annotations

import argparse
import csv
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from functions.common.constants import DB_SCHEMA, MODEL_TEXT_EMBEDDING  # noqa: E402
from functions.taxonomy.taxonomy import Taxonomy, label_vectors  # noqa: E402

S = DB_SCHEMA
TAXONOMY = ROOT / "bench" / "ag_news_taxonomy.json"
CLASSES = ["world", "sports", "business", "sci-tech"]  # AG News class index 1..4


def read(path: Path) -> tuple[list[str], np.ndarray]:
    texts, labels = [], []
    with path.open(newline="", encoding="utf-8") as f:
        for row in csv.reader(f):
            if not row or not row[0].strip().isdigit():
                continue  # a header row (some public copies add one)
            labels.append(int(row[0]) - 1)
            texts.append(" ".join(f"{row[1]}. {row[2]}".replace("\\", " ").split()))
    return texts, np.asarray(labels)


def macro_f1(truth: np.ndarray, predicted: np.ndarray, classes: int) -> float:
    scores = []
    for c in range(classes):
        tp = float(np.sum((predicted == c) & (truth == c)))
        fp = float(np.sum((predicted == c) & (truth != c)))
        fn = float(np.sum((predicted != c) & (truth == c)))
        scores.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores))


def with_examples(taxonomy: Taxonomy, texts: list[str], labels: np.ndarray, shots: int) -> Taxonomy:
    data = taxonomy.model_dump()
    for c, label in enumerate(data["labels"]):
        label["examples"] = [t[:1000] for t, y in zip(texts, labels) if y == c][:shots]
    return Taxonomy.model_validate(data)


def classify(vectors: np.ndarray, taxonomy: Taxonomy, embed) -> np.ndarray:
    labels = label_vectors(taxonomy, MODEL_TEXT_EMBEDDING, embed)
    order = [next(i for i, label in enumerate(taxonomy.labels) if label.id == c) for c in CLASSES]
    return np.argmax(vectors @ labels[order].T, axis=1)


class TextEmbedder:
    """embed(texts) -> (n, 384) vectors from the pipeline's text_embedding model server; `model` is
    the {"id", "version"} the server names itself with (known after the first call)."""

    BATCH = 64

    def __init__(self, client) -> None:
        self.client = client
        self.model: dict[str, str] = {}

    def __call__(self, texts: list[str]) -> np.ndarray:
        # shortest first: a batch is padded to its longest text, so like lengths batch cheaply
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), 0))
        for start in range(0, len(order), self.BATCH):
            picked = order[start:start + self.BATCH]
            result = self.client.invoke(MODEL_TEXT_EMBEDDING, [texts[i] for i in picked])
            self.model = self.model or result.model
            vectors = np.asarray(result.outputs, dtype=np.float64)
            if out.shape[1] == 0:
                out = np.zeros((len(texts), vectors.shape[1]))
            out[picked] = vectors
        return out


@contextmanager
def text_embedder() -> Iterator[TextEmbedder]:
    """The text_embedding model server as the local run starts it (one worker), for this block."""
    from functions.common.model_client import ModelClient
    from local.model_servers import start_local_profile

    with start_local_profile(roles=[MODEL_TEXT_EMBEDDING], workers=1) as profile:
        if MODEL_TEXT_EMBEDDING not in profile.endpoints:
            raise RuntimeError(f"the text_embedding model server did not start: {profile.unavailable}")
        yield TextEmbedder(ModelClient(profile.endpoints, components=profile.components, sagemaker_client=profile.client()))


def store(conn, vectors: np.ndarray, first: int = 0, model: tuple[str, str] = ("bench", "1")) -> None:
    """Objects with one object vector each, the HNSW index built once afterwards (as V008 builds it);
    `model` is the (id, version) the vectors' rows name."""
    from pgvector import Vector
    from retrieval import index_statement

    conn.execute(f"DROP INDEX IF EXISTS {S}.object_vectors_text_384_hnsw")

    with conn.cursor().copy(f"COPY {S}.objects (bucket, key, size, modality, pipeline_version, status) FROM STDIN") as copy:
        for i in range(len(vectors)):
            copy.write_row(("bench", f"doc/{first + i:07d}.txt", 1, "text", "bench", "succeeded"))
    ids = [r[0] for r in conn.execute(f"SELECT id FROM {S}.objects WHERE key >= %s ORDER BY key",
                                      (f"doc/{first:07d}.txt",)).fetchall()][:len(vectors)]
    with conn.cursor().copy(f"COPY {S}.object_vectors (object_id, model_role, model_id, model_version, dimension, chunks,"
                            " embedding) FROM STDIN WITH (FORMAT BINARY)") as copy:
        copy.set_types(["int8", "text", "text", "text", "int4", "int4", "vector"])
        for oid, v in zip(ids, vectors):
            copy.write_row((oid, MODEL_TEXT_EMBEDDING, *model, len(v), 1, Vector(v.astype(np.float32))))
    conn.execute(index_statement("object_vectors_text_384_hnsw"))
    conn.execute("VACUUM ANALYZE")


def recommendations(conn, labels: np.ndarray, queries: int, diversity: float) -> tuple[float, float, float]:
    from functions.search.similar import ObjectKey, similar_to

    rng = np.random.default_rng(3)
    picks = rng.choice(len(labels), size=min(queries, len(labels)), replace=False)
    precision, times = [], []
    for i in picks:
        started = time.perf_counter()
        hits = similar_to(conn, ObjectKey("bench", f"doc/{i:07d}.txt"), k=10, diversity=diversity)
        times.append((time.perf_counter() - started) * 1000)
        found = [int(h.key[4:11]) for h in hits]
        same = [labels[j] == labels[i] for j in found if j < len(labels)]
        precision.append(float(np.mean(same)) if same else 0.0)
    return float(np.mean(precision)), float(np.percentile(times, 50)), float(np.percentile(times, 95))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", type=Path)
    parser.add_argument("--train", type=int, default=400, help="rows of the small labelled split")
    parser.add_argument("--shots", default="0,4,16", help="examples per class for the few-shot runs (0: zero-shot)")
    parser.add_argument("--limit", type=int, help="at most this many test rows")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--objects", type=int, default=100_000)
    args = parser.parse_args(argv)

    texts, labels = read(args.data)
    order = np.random.default_rng(0).permutation(len(texts))
    train, test = order[:args.train], order[args.train:][:args.limit]
    train_texts, train_labels = [texts[i] for i in train], labels[train]
    test_texts, test_labels = [texts[i] for i in test], labels[test]
    print(f"# {len(texts):,} rows: {len(train):,} labelled, {len(test):,} test", flush=True)

    rows = []
    with text_embedder() as embed:
        started = time.perf_counter()
        vectors = embed(test_texts)
        print(f"embedded {len(test_texts):,} texts in {time.perf_counter() - started:.0f} s", flush=True)
        taxonomy = Taxonomy.model_validate_json(TAXONOMY.read_bytes())
        for shots in (int(s) for s in args.shots.split(",")):
            method = "zero-shot (descriptions)" if shots == 0 else f"few-shot ({shots} examples per class)"
            predicted = classify(vectors, with_examples(taxonomy, train_texts, train_labels, shots), embed)
            rows.append((method, macro_f1(test_labels, predicted, 4), float(np.mean(predicted == test_labels))))
            print(f"  {method:<36} macro-F1 {rows[-1][1]:.3f}  accuracy {rows[-1][2]:.3f}", flush=True)

    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    tfidf = TfidfVectorizer(sublinear_tf=True, min_df=1, ngram_range=(1, 2))
    model = LogisticRegression(max_iter=2000).fit(tfidf.fit_transform(train_texts), train_labels)
    predicted = model.predict(tfidf.transform(test_texts))
    rows.append((f"TF-IDF + logistic regression ({len(train):,} labelled)", macro_f1(test_labels, predicted, 4),
                 float(np.mean(predicted == test_labels))))
    print(f"\n{len(test):,} test texts (AG News layout), text model all-MiniLM-L6-v2\n")
    print("| method | macro-F1 | accuracy |\n|---|---:|---:|")
    for method, f1, acc in rows:
        print(f"| {method} | {f1:.3f} | {acc:.3f} |")

    from retrieval import make_data
    from scratch_db import migrated_database

    recs = []
    with migrated_database("bench-taxonomy-") as conn:
        conn.execute("SET maintenance_work_mem = '1GB'")
        store(conn, vectors)
        for diversity in (0.0, 0.3):
            recs.append((len(vectors), diversity, *recommendations(conn, test_labels, args.queries, diversity)))
        if args.objects > len(vectors):
            filler, _ = make_data(args.objects - len(vectors), 1, "clustered", seed=5)
            started = time.perf_counter()
            store(conn, filler, first=len(vectors))
            print(f"\nfilled to {args.objects:,} objects in {time.perf_counter() - started:.0f} s", flush=True)
            for diversity in (0.0, 0.3):
                recs.append((args.objects, diversity, *recommendations(conn, test_labels, args.queries, diversity)))
    print(f"\nmore like this: {args.queries} query objects, k 10\n")
    print("| objects | diversity | precision@10 (same class) | p50 ms | p95 ms |\n|---:|---:|---:|---:|---:|")
    for n, diversity, precision, p50, p95 in recs:
        print(f"| {n:,} | {diversity} | {precision:.3f} | {p50:.1f} | {p95:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
