"""Search quality on public retrieval benchmarks with human judgements (BEIR layout), end to end.

    # 1. ingest: the judged documents of a sample of queries plus seeded random distractors, as
    #    text files through the whole local pipeline (local.run: S3 -> Kafka -> Step Functions ->
    #    extract/generate/embed/store -> PostgreSQL); the database stays in WORK
    .venv/bin/python bench/search_quality.py ingest DATA WORK [--docs 2500] [--queries 150] [--splits dev,test]
    # 2. evaluate: our search, each of its legs alone, and the baselines, on one split
    .venv/bin/python bench/search_quality.py evaluate DATA WORK --split test [--tune dev]

DATA is a BEIR dataset folder (corpus.jsonl, queries.jsonl, qrels/<split>.tsv); bench/README.md
says where the public copies come from. Printed per system: nDCG@10 (graded gains, as
trec_eval's ndcg_cut_10), Recall@100 and MRR@10, over the split's sampled queries:

* ours: functions/search/core.py as deployed (its Tuning defaults), files as answers;
* ours/<leg>: one leg alone (text = all-MiniLM-L6-v2 over chunks, lexical = BM25 in SQL), files;
* bm25 (reference): bm25s over whole documents, its own tokenizer (English stop words, Snowball
  stemmer when PyStemmer is installed), k1 0.9, b 0.4 (Anserini's BEIR baseline settings);
* minilm (whole document): all-MiniLM-L6-v2 over each whole document (its 256-token window),
  cosine, in this process;
* rrf(bm25, minilm): reciprocal rank fusion of the two, k 60.

`--tune SPLIT` grid-searches the fusion (rrf k, convex combination, leg weights, BM25 k1/b) on
SPLIT's queries and prints the best settings and their figures on both splits. Tune on dev
splits only; SciFact stays out of tuning (the independent check).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

K_NDCG, K_RECALL, K_MRR = 10, 100, 10


# -- the dataset ---------------------------------------------------------------------------
def read_jsonl(path: Path) -> Iterable[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    for line in path.read_text(encoding="utf-8").splitlines()[1:]:
        qid, did, score = line.split("\t")
        if int(score) > 0:
            qrels.setdefault(qid, {})[did] = int(score)
    return qrels


@dataclass(frozen=True)
class Selection:
    """What was ingested: the sampled queries per split and every document id."""

    queries: dict[str, list[str]]  # split -> query ids
    docs: list[str]

    def save(self, path: Path) -> None:
        path.write_text(json.dumps({"queries": self.queries, "docs": self.docs}))

    @classmethod
    def load(cls, path: Path) -> Selection:
        raw = json.loads(path.read_text())
        return cls(raw["queries"], raw["docs"])


def select(data: Path, splits: Sequence[str], queries: int, docs: int, seed: int) -> Selection:
    """`queries` random judged queries per split; every document they judge; random distractors
    up to `docs` documents in all (fewer when the corpus is smaller)."""
    rng = random.Random(seed)
    corpus_ids = [d["_id"] for d in read_jsonl(data / "corpus.jsonl")]
    present = set(corpus_ids)
    chosen: dict[str, list[str]] = {}
    judged: set[str] = set()
    for split in splits:
        qrels = read_qrels(data / "qrels" / f"{split}.tsv")
        ids = sorted(q for q, rel in qrels.items() if set(rel) & present)
        chosen[split] = sorted(rng.sample(ids, min(queries, len(ids))))
        judged.update(d for q in chosen[split] for d in qrels[q] if d in present)
    rest = sorted(present - judged)
    rng.shuffle(rest)
    return Selection(chosen, sorted(judged) + sorted(rest[:max(0, docs - len(judged))]))


def doc_text(doc: dict[str, Any]) -> str:
    return "\n\n".join(p for p in (doc.get("title", "").strip(), doc.get("text", "").strip()) if p)


# -- metrics -------------------------------------------------------------------------------
def ndcg_at(k: int, ranked: Sequence[str], rel: dict[str, int]) -> float:
    """nDCG@k with linear gains (trec_eval's ndcg_cut): sum rel / log2(rank + 1), over the ideal."""
    dcg = sum(rel.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sum(g / math.log2(i + 2) for i, g in enumerate(sorted(rel.values(), reverse=True)[:k]))
    return dcg / ideal if ideal else 0.0


def recall_at(k: int, ranked: Sequence[str], rel: dict[str, int]) -> float:
    return len(set(ranked[:k]) & set(rel)) / len(rel) if rel else 0.0


def mrr_at(k: int, ranked: Sequence[str], rel: dict[str, int]) -> float:
    return next((1.0 / (i + 1) for i, d in enumerate(ranked[:k]) if d in rel), 0.0)


def scores(runs: dict[str, list[str]], qrels: dict[str, dict[str, int]]) -> tuple[float, float, float]:
    """Mean nDCG@10, Recall@100, MRR@10 of `runs` (query id -> ranked doc ids) over its queries."""
    n = len(runs)
    return (sum(ndcg_at(K_NDCG, r, qrels[q]) for q, r in runs.items()) / n,
            sum(recall_at(K_RECALL, r, qrels[q]) for q, r in runs.items()) / n,
            sum(mrr_at(K_MRR, r, qrels[q]) for q, r in runs.items()) / n)


def rrf(*rankings: Sequence[str], k: int = 60) -> list[str]:
    total: dict[str, float] = {}
    for ranking in rankings:
        for i, d in enumerate(ranking):
            total[d] = total.get(d, 0.0) + 1.0 / (k + i + 1)
    return sorted(total, key=lambda d: -total[d])


# -- ingest --------------------------------------------------------------------------------
def ingest(data: Path, work: Path, splits: Sequence[str], queries: int, docs: int, seed: int, wave: int) -> None:
    """The selection as text files through the whole local pipeline, `wave` files at a time
    (bench/load.py's reason: locally every Map iteration is a thread of this process and the
    model servers share the machine's cores; with thousands in flight model calls time out)."""
    import contextlib

    from functions.common.db import DbConfig, open_connection
    from local.run import LocalPipeline

    selection = select(data, splits, queries, docs, seed)
    folder = work / "files"
    folder.mkdir(parents=True, exist_ok=True)
    wanted = set(selection.docs)
    for doc in read_jsonl(data / "corpus.jsonl"):
        if doc["_id"] in wanted:
            (folder / f"{doc['_id']}.txt").write_text(doc_text(doc), encoding="utf-8")
    selection.save(work / "selection.json")
    files = sorted(folder.glob("*.txt"))
    print(f"{len(files)} documents, queries {({s: len(q) for s, q in selection.queries.items()})}", file=sys.stderr)
    started = time.monotonic()
    with open(work / "lambda.log", "w", encoding="utf-8") as log, contextlib.redirect_stdout(log), \
            LocalPipeline(work / "run", progress=False) as pipeline:
        for first in range(0, len(files), wave):
            uploads = pipeline.upload(folder, files[first:first + wave])
            pipeline.published = 0  # process() waits for this many new records on the same group
            pipeline.published = pipeline.forward(uploads)
            pipeline.process(len(uploads))
            print(f"  {min(first + wave, len(files))}/{len(files)} files after {time.monotonic() - started:.0f} s",
                  file=sys.stderr, flush=True)
        with open_connection(DbConfig.from_env(pipeline.db_env)) as conn:
            outcome = dict(conn.execute("SELECT status, count(*) FROM pipeline.objects GROUP BY status").fetchall())
            failures = conn.execute("SELECT failed_step, reason FROM pipeline.failures LIMIT 5").fetchall()
    print(f"ingested in {time.monotonic() - started:.0f} s: {outcome}; first failures: {failures}")


# -- evaluate ------------------------------------------------------------------------------
def doc_id_of_key(key: str) -> str:
    return Path(key).stem


class OurSearch:
    """The local run's database and the query-embedding model server, started once."""

    def __init__(self, work: Path) -> None:
        import contextlib

        from functions.common.constants import MODEL_TEXT_EMBEDDING
        from functions.common.db import DbConfig, open_connection
        from functions.common.model_client import ModelClient
        from functions.search.core import ModelEmbedder
        from local.model_servers import start_local_profile
        from local.results import start_postgres

        self._stack = contextlib.ExitStack()
        db_env = start_postgres(work / "run", fresh=False)
        self.conn = open_connection(DbConfig.from_env(db_env))
        profile = self._stack.enter_context(start_local_profile(roles=[MODEL_TEXT_EMBEDDING], workers=1))
        self.embed = ModelEmbedder(ModelClient(profile.endpoints, components=profile.components,
                                               sagemaker_client=profile.client()))
        self.keys = dict(self.conn.execute("SELECT id, key FROM pipeline.objects WHERE status = 'succeeded'").fetchall())
        self.chunks = self.conn.execute("SELECT count(*) FROM pipeline.chunks").fetchone()[0]

    def legs(self, query: str, tuning: Any) -> list[Any]:
        from functions.common.constants import MODEL_TEXT_EMBEDDING
        from functions.search.core import Filters, Scope, SearchResult, run_legs

        result = SearchResult(files=[])
        return run_legs(self.conn, " ".join(query.split()), self.embed, tuning.depth, Filters(), Scope(), tuning,
                        (MODEL_TEXT_EMBEDDING,), result)

    def ranked(self, legs: Sequence[Any], tuning: Any, limit: int = K_RECALL) -> list[str]:
        from functions.search.fusion import fuse_files

        return [doc_id_of_key(self.keys[f.object_id]) for f in fuse_files(legs, limit, tuning)]

    def close(self) -> None:
        self.conn.close()
        self._stack.close()


def baselines(data: Path, stored: set[str], queries: dict[str, str]) -> dict[str, dict[str, list[str]]]:
    """Reference BM25, whole-document MiniLM and their RRF, over the documents the pipeline
    stored (the same collection our search sees)."""
    import bm25s
    import numpy as np

    docs = {d["_id"]: doc_text(d) for d in read_jsonl(data / "corpus.jsonl") if d["_id"] in stored}
    ids = sorted(docs)
    try:
        import Stemmer  # PyStemmer

        stemmer = Stemmer.Stemmer("english")
    except ImportError:
        stemmer = None
    retriever = bm25s.BM25(k1=0.9, b=0.4, method="lucene")
    retriever.index(bm25s.tokenize([docs[i] for i in ids], stopwords="en", stemmer=stemmer, show_progress=False),
                    show_progress=False)
    from sentence_transformers import SentenceTransformer

    from local.model_servers import minilm_dir

    model = SentenceTransformer(str(minilm_dir()), device="cpu")
    doc_vectors = model.encode([docs[i] for i in ids], batch_size=32, normalize_embeddings=True, show_progress_bar=False)
    out: dict[str, dict[str, list[str]]] = {"bm25 (reference)": {}, "minilm (whole document)": {}, "rrf(bm25, minilm)": {}}
    qids = sorted(queries)
    q_vectors = model.encode([queries[q] for q in qids], batch_size=32, normalize_embeddings=True, show_progress_bar=False)
    for qid, qv in zip(qids, q_vectors):
        tokens = bm25s.tokenize([queries[qid]], stopwords="en", stemmer=stemmer, show_progress=False)
        found, _ = retriever.retrieve(tokens, k=min(K_RECALL, len(ids)), show_progress=False)
        lexical = [ids[int(i)] for i in found[0]]
        dense = [ids[int(i)] for i in np.argsort(-(doc_vectors @ qv))[:K_RECALL]]
        out["bm25 (reference)"][qid] = lexical
        out["minilm (whole document)"][qid] = dense
        out["rrf(bm25, minilm)"][qid] = rrf(lexical, dense)[:K_RECALL]
    return out


def tuning_grid(base: Any) -> list[Any]:
    from functions.search.lexical import Bm25

    grid = []
    for bm25 in (Bm25(), Bm25(0.9, 0.4)):
        for k in (5, 10, 20, 40, 60, 100):
            for w in (0.5, 0.75, 1.0, 1.5, 2.0):
                grid.append(replace(base, fusion="rrf", rrf_k=k, weights={"text": 1.0, "image": 1.0, "lexical": w}, bm25=bm25))
        for w in (0.1, 0.2, 0.3, 0.5, 0.7, 1.0):
            grid.append(replace(base, fusion="convex", weights={"text": 1.0, "image": 1.0, "lexical": w}, bm25=bm25))
    return grid


def describe(t: Any) -> str:
    fusion = f"rrf k={t.rrf_k}" if t.fusion == "rrf" else "convex"
    return f"{fusion}, lexical weight {t.weights['lexical']}, bm25 k1={t.bm25.k1} b={t.bm25.b}"


def evaluate(data: Path, work: Path, split: str, tune: str | None, out: Path | None) -> dict[str, Any]:
    from functions.search.core import Tuning

    selection = Selection.load(work / "selection.json")
    all_queries = {q["_id"]: q["text"] for q in read_jsonl(data / "queries.jsonl")}
    splits = [split] + ([tune] if tune and tune != split else [])
    qrels = {s: read_qrels(data / "qrels" / f"{s}.tsv") for s in splits}
    ours = OurSearch(work)
    figures: dict[str, Any] = {"dataset": data.name, "documents": len(ours.keys), "chunks": ours.chunks, "splits": {}}
    try:
        base = Tuning()
        legs_cache: dict[tuple[str, Any], list[Any]] = {}

        def legs(qid: str, t: Any) -> list[Any]:
            key = (qid, t.bm25)
            if key not in legs_cache:
                legs_cache[key] = ours.legs(all_queries[qid], t)
            return legs_cache[key]

        stored = {doc_id_of_key(k) for k in ours.keys.values()}
        base_runs = baselines(data, stored, {q: all_queries[q] for s in splits for q in selection.queries[s]})
        chosen = base
        if tune:
            best = None
            for t in tuning_grid(base):
                runs = {q: ours.ranked(legs(q, t), t) for q in selection.queries[tune]}
                value = scores(runs, qrels[tune])
                if best is None or value[0] > best[0][0]:
                    best = (value, t)
            assert best is not None
            chosen = best[1]
            print(f"# best on {tune}: {describe(chosen)}: nDCG@10 {best[0][0]:.3f}")
            figures["tuned"] = {"on": tune, "settings": describe(chosen)}
        for s in splits:
            qids = selection.queries[s]
            systems: dict[str, dict[str, list[str]]] = {
                "ours (defaults)": {q: ours.ranked(legs(q, base), base) for q in qids}}
            if tune:
                systems["ours (tuned on " + tune + ")"] = {q: ours.ranked(legs(q, chosen), chosen) for q in qids}
            for leg in ("text", "lexical"):
                systems[f"ours/{leg} alone"] = {
                    q: ours.ranked([x for x in legs(q, base) if x.name == leg], base) for q in qids}
            systems.update({name: {q: runs[q] for q in qids} for name, runs in base_runs.items()})
            rows = {name: scores(runs, qrels[s]) for name, runs in systems.items()}
            figures["splits"][s] = {name: dict(zip(("ndcg@10", "recall@100", "mrr@10"), v)) for name, v in rows.items()}
            print(f"\n## {data.name} / {s}: {len(qids)} queries, {len(ours.keys)} documents, {ours.chunks} chunks\n")
            print("| system | nDCG@10 | Recall@100 | MRR@10 |\n|---|---:|---:|---:|")
            for name, (n, r, m) in rows.items():
                print(f"| {name} | {n:.3f} | {r:.3f} | {m:.3f} |")
    finally:
        ours.close()
    if out:
        out.write_text(json.dumps(figures, indent=2))
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p_in = sub.add_parser("ingest")
    p_in.add_argument("data", type=Path)
    p_in.add_argument("work", type=Path)
    p_in.add_argument("--docs", type=int, default=2500)
    p_in.add_argument("--queries", type=int, default=150, help="sampled judged queries per split")
    p_in.add_argument("--splits", default="dev,test")
    p_in.add_argument("--seed", type=int, default=7)
    p_in.add_argument("--wave", type=int, default=50, help="files in flight at once")
    p_ev = sub.add_parser("evaluate")
    p_ev.add_argument("data", type=Path)
    p_ev.add_argument("work", type=Path)
    p_ev.add_argument("--split", default="test")
    p_ev.add_argument("--tune", help="grid-search the fusion on this split's queries")
    p_ev.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.command == "ingest":
        ingest(args.data, args.work, args.splits.split(","), args.queries, args.docs, args.seed, args.wave)
    else:
        evaluate(args.data, args.work, args.split, args.tune, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
