"""More like this on public retrieval benchmarks (BEIR layout): precision@10 of related neighbours.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/recommend_beir.py DATA [--relations test:1,test:2]
        [--vectors whole,chunks] [--seeds N]

DATA is a BEIR dataset folder (corpus.jsonl, queries.jsonl, qrels/<split>.tsv; bench/README.md
says where the public copies come from). Every document of the corpus (the judged ones and the
rest, as distractors) is stored as an object with an object vector (V008), as bench/taxonomy.py
stores AG News texts, made by the pipeline's text_embedding model server (all-MiniLM-L6-v2):

* **whole**: the document (title and text) embedded whole, truncated at the model's 256 tokens;
* **chunks**: what the pipeline stores for a text file: the sum of the embeddings of its chunks
  (functions/processing/chunking's iter_chunks at the default size and overlap).

A retrieval set has no labels, so relatedness comes from its judgements: two documents are
**related** when one judged query of the relation's splits marks both relevant with at least the
relation's grade (`test:1` = the test qrels, relevance >= 1; `test+train:1`; `test:2` = NFCorpus'
direct links only). Judgements are incomplete, so an unjudged pair counts as unrelated and every
figure is a lower bound. Seeds are the documents with at least one related document; for each,
functions/search/similar.py `similar_to` (k 10) at diversity 0 and 0.3 (maximal marginal
relevance, the default), and exact cosine over all vectors in numpy (no index, no diversity).
Printed per relation and method: precision@10; the ceiling (the best any method can reach given
how many related documents each seed has: the mean of min(r, 10) / 10); capped R-precision (hits
/ min(r, 10), 1.0 is perfect whatever r); p50/p95 ms of similar_to; and a random baseline (the
expected value for 10 documents drawn at random from the rest of the collection).
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from search_quality import doc_text, read_jsonl, read_qrels  # noqa: E402
from taxonomy import TextEmbedder, store, text_embedder  # noqa: E402

K = 10


@dataclass(frozen=True)
class Relation:
    """Documents related when a judged query of `splits` marks both relevant with grade >= `grade`."""

    splits: tuple[str, ...]
    grade: int

    @classmethod
    def parse(cls, spec: str) -> Relation:
        splits, _, grade = spec.partition(":")
        if not splits or not grade.isdigit() or int(grade) < 1:
            raise argparse.ArgumentTypeError(f"{spec!r}: want SPLIT[+SPLIT...]:GRADE, grade >= 1 (e.g. test:1)")
        return cls(tuple(splits.split("+")), int(grade))

    def __str__(self) -> str:
        return f"{'+'.join(self.splits)}, relevance >= {self.grade}"

    def related(self, data: Path, ids: dict[str, int]) -> list[set[int]]:
        """Per stored document (by index), the indexes of the documents related to it."""
        out: list[set[int]] = [set() for _ in ids]
        for split in self.splits:
            for rel in read_qrels(data / "qrels" / f"{split}.tsv").values():
                group = {ids[d] for d, grade in rel.items() if grade >= self.grade and d in ids}
                for i in group:
                    out[i] |= group
        for i, group in enumerate(out):
            group.discard(i)
        return out


def embed_documents(embed: TextEmbedder, texts: list[str], how: str) -> np.ndarray:
    """One object vector per text: the text whole, or the sum of its chunks' embeddings (V008)."""
    if how == "whole":
        return embed(texts)
    from functions.common.settings import DEFAULT_TEXT_CHUNK_OVERLAP, DEFAULT_TEXT_CHUNK_TOKENS
    from functions.processing.chunking.text import iter_chunks

    owner, pieces = [], []
    for i, text in enumerate(texts):
        for chunk in iter_chunks(text, DEFAULT_TEXT_CHUNK_TOKENS, DEFAULT_TEXT_CHUNK_OVERLAP):
            owner.append(i)
            pieces.append(chunk.text)
    vectors = embed(pieces)
    out = np.zeros((len(texts), vectors.shape[1]))
    np.add.at(out, np.asarray(owner), vectors)
    print(f"  {len(pieces):,} chunks ({len(pieces) / len(texts):.2f} per document)", flush=True)
    return out


@dataclass
class Scores:
    precision: float
    capped_r: float
    p50: float | None = None
    p95: float | None = None


def score(found: list[list[int]], seeds: list[int], related: list[set[int]], times: list[float] | None = None) -> Scores:
    hits = [len(set(f[:K]) & related[s]) for f, s in zip(found, seeds)]
    return Scores(float(np.mean([h / K for h in hits])),
                  float(np.mean([h / min(len(related[s]), K) for h, s in zip(hits, seeds)])),
                  float(np.percentile(times, 50)) if times else None, float(np.percentile(times, 95)) if times else None)


def through_similar(conn, seeds: list[int], diversity: float) -> tuple[list[list[int]], list[float]]:
    from functions.search.similar import ObjectKey, similar_to

    found, times = [], []
    for s in seeds:
        started = time.perf_counter()
        hits = similar_to(conn, ObjectKey("bench", f"doc/{s:07d}.txt"), k=K, diversity=diversity)
        times.append((time.perf_counter() - started) * 1000)
        found.append([int(h.key[4:11]) for h in hits])
    return found, times


def exact(vectors: np.ndarray, seeds: list[int]) -> list[list[int]]:
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    out = []
    for s in seeds:
        sims = unit @ unit[s]
        sims[s] = -np.inf
        out.append([int(i) for i in np.argsort(-sims, kind="stable")[:K]])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", type=Path, help="a BEIR dataset folder")
    parser.add_argument("--relations", default="test:1", help="comma-separated SPLIT[+SPLIT...]:GRADE (default test:1)")
    parser.add_argument("--vectors", default="whole", help="comma-separated: whole, chunks")
    parser.add_argument("--seeds", type=int, default=0, help="at most this many seed documents per relation (0: all)")
    args = parser.parse_args(argv)
    try:
        relations = [Relation.parse(s) for s in args.relations.split(",")]
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    kinds = args.vectors.split(",")
    if not set(kinds) <= {"whole", "chunks"}:
        parser.error("--vectors: whole and/or chunks")
    for r in relations:
        for split in r.splits:
            if not (args.data / "qrels" / f"{split}.tsv").is_file():
                parser.error(f"no {args.data / 'qrels' / f'{split}.tsv'}")

    docs = list(read_jsonl(args.data / "corpus.jsonl"))
    ids = {d["_id"]: i for i, d in enumerate(docs)}
    texts = [doc_text(d) for d in docs]
    n = len(docs)
    print(f"# {args.data.name}: {n:,} documents stored (every one: judged and distractors)", flush=True)

    vectors: dict[str, np.ndarray] = {}
    with text_embedder() as embed:
        for kind in kinds:
            started = time.perf_counter()
            vectors[kind] = embed_documents(embed, texts, kind)
            print(f"  {kind}: embedded in {time.perf_counter() - started:.0f} s", flush=True)
    model = (embed.model.get("id", "unknown"), embed.model.get("version", "unknown"))
    print(f"  model: {model[0]} {model[1]}", flush=True)

    rng = np.random.default_rng(7)
    rows = []
    from scratch_db import migrated_database

    for kind in kinds:
        with migrated_database("bench-recommend-") as conn:
            conn.execute("SET maintenance_work_mem = '1GB'")
            store(conn, vectors[kind], model=model)
            for relation in relations:
                related = relation.related(args.data, ids)
                seeds = [i for i, group in enumerate(related) if group]
                if args.seeds and len(seeds) > args.seeds:
                    seeds = sorted(int(i) for i in rng.choice(seeds, size=args.seeds, replace=False))
                if not seeds:
                    print(f"  {relation}: no document has a related one; skipped")
                    continue
                sizes = [len(related[s]) for s in seeds]
                ceiling = float(np.mean([min(r, K) / K for r in sizes]))
                print(f"  {kind}, {relation}: {len(seeds):,} seeds, related documents per seed: median "
                      f"{np.median(sizes):.0f}, max {max(sizes):,}", flush=True)
                base = (kind, str(relation), len(seeds), ceiling)
                for diversity in (0.0, 0.3):
                    found, times = through_similar(conn, seeds, diversity)
                    rows.append((*base, f"similar_to, diversity {diversity}", score(found, seeds, related, times)))
                rows.append((*base, "exact cosine (numpy)", score(exact(vectors[kind], seeds), seeds, related)))
                # 10 of the other n - 1 documents at random: r / (n - 1) of them related, on average
                expected = [K * r / (n - 1) for r in sizes]
                rows.append((*base, "random (expected)", Scores(float(np.mean([e / K for e in expected])),
                                                               float(np.mean([e / min(r, K) for e, r in zip(expected, sizes)])))))

    print(f"\nmore like this on {args.data.name}: {n:,} documents, k {K}, model {model[0]} {model[1]}\n")
    print("| vectors | related when | seeds | method | precision@10 | ceiling | capped R-precision | p50 ms | p95 ms |")
    print("|---|---|---:|---|---:|---:|---:|---:|---:|")
    def share(x: float) -> str:  # a random baseline far below 0.001 still shows its size
        return f"{x:.3f}" if x == 0 or x >= 0.0005 else f"{x:.4f}"

    for kind, relation, seeds_n, ceiling, method, s in rows:
        p50 = "-" if s.p50 is None else f"{s.p50:.1f}"
        p95 = "-" if s.p95 is None else f"{s.p95:.1f}"
        print(f"| {kind} | {relation} | {seeds_n:,} | {method} | {share(s.precision)} | {ceiling:.3f} | {share(s.capped_r)}"
              f" | {p50} | {p95} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
