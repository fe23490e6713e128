"""Write SciFact and NFCorpus in BEIR layout (corpus.jsonl, queries.jsonl, qrels/<split>.tsv) from
the public GitHub copies named in PROVENANCE.md, read out of `fetch` snapshots (git dirs).

    .venv/bin/python bench/beir_prepare.py MIRROR OUT

MIRROR: the folder holding one `owner+name/repo` git dir per repository (a snapshot of each
repository named below, at least at the commit named); OUT gets scifact/ and nfcorpus/.
"""
from __future__ import annotations

import argparse
import ast
import csv
import gzip
import io
import json
import re
import subprocess
import zipfile
from pathlib import Path

CLAIMVERIFIER = ("sumithra-p-v+claimverifier", "b42f1c3444b28884ddcfadffafbfe223646c6c37")
MEDISEARCH = ("hakimamarullah+medisearch-api", "0ae71a4bb2416506dbdd9a5f8894e7830b99f19f")
ANSERINI = ("castorini+anserini-tools", "5b819c1a45c8a0a3ec9426f476694f44a29dfaf3")
# numpy's repr of an array of sentences: '...' or "..." literals separated by whitespace
LITERAL = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"", re.S)


def show(mirror: Path, repo: tuple[str, str], path: str) -> bytes:
    return subprocess.run(["git", f"--git-dir={mirror / repo[0] / 'repo'}", "show", f"{repo[1]}:{path}"],
                          check=True, capture_output=True).stdout


def write(out: Path, corpus: list[dict], queries: list[dict], qrels: dict[str, list[tuple[str, str, int]]]) -> None:
    (out / "qrels").mkdir(parents=True, exist_ok=True)
    with (out / "corpus.jsonl").open("w", encoding="utf-8") as f:
        f.writelines(json.dumps(d, ensure_ascii=False) + "\n" for d in corpus)
    with (out / "queries.jsonl").open("w", encoding="utf-8") as f:
        f.writelines(json.dumps(q, ensure_ascii=False) + "\n" for q in queries)
    for split, rows in qrels.items():
        with (out / "qrels" / f"{split}.tsv").open("w", encoding="utf-8") as f:
            f.write("query-id\tcorpus-id\tscore\n")
            f.writelines(f"{q}\t{d}\t{s}\n" for q, d, s in rows)
    print(f"{out}: {len(corpus)} documents, {len(queries)} queries, "
          + ", ".join(f"{s} {len(r)} judgements" for s, r in qrels.items()))


def trec(text: str) -> list[tuple[str, str, int]]:
    rows = []
    for line in text.splitlines():
        if line.strip():
            q, _, d, s = line.split()
            rows.append((q, d, int(s)))
    return rows


def scifact(mirror: Path, out: Path) -> None:
    csv.field_size_limit(1 << 30)
    archive = zipfile.ZipFile(io.BytesIO(show(mirror, CLAIMVERIFIER, "data/scifact.zip")))
    corpus = []
    for row in csv.DictReader(io.TextIOWrapper(archive.open("corpus_train.csv"), encoding="utf-8")):
        sentences = [ast.literal_eval(s) for s in LITERAL.findall(row["abstract"])]
        corpus.append({"_id": row["doc_id"], "title": row["title"], "text": " ".join(s.strip() for s in sentences)})
    topics = gzip.decompress(show(mirror, ANSERINI, "topics/topics.beir-v1.0.0-scifact.test.tsv.gz")).decode()
    queries = [{"_id": q, "text": t} for q, t in (line.split("\t", 1) for line in topics.splitlines() if line)]
    train_text = {r["id"]: r["claim"] for r in csv.DictReader(io.TextIOWrapper(archive.open("claims_train.csv"), encoding="utf-8"))}
    queries += [{"_id": q, "text": t} for q, t in sorted(train_text.items(), key=lambda x: int(x[0]))]
    qrels = {"test": trec(show(mirror, ANSERINI, "qrels/qrels.beir-v1.0.0-scifact.test.txt").decode())}
    # BEIR's test qrels are exactly the cited_doc_ids of SciFact's dev claims (checked: all 300
    # claims of claims_validation.csv); its train qrels are made the same way from the train claims
    dev = claims(archive, "claims_validation.csv")
    assert sorted(qrels["test"]) == sorted((q, d, 1) for q, ds in dev.items() for d in ds if ds), "test qrels differ"
    qrels["train"] = sorted((q, d, 1) for q, ds in claims(archive, "claims_train.csv").items() for d in ds)
    write(out / "scifact", corpus, queries, qrels)


def claims(archive: zipfile.ZipFile, name: str) -> dict[str, list[str]]:
    """claim id -> its cited documents (the claims file has one row per claim and evidence document)."""
    cited: dict[str, set[str]] = {}
    for row in csv.DictReader(io.TextIOWrapper(archive.open(name), encoding="utf-8")):
        cited.setdefault(row["id"], set()).update(re.findall(r"\d+", row["cited_doc_ids"]))
    return {q: sorted(ds) for q, ds in cited.items()}


def nfcorpus(mirror: Path, out: Path) -> None:
    base = "data/nfcorpus/"
    docs: dict[str, str] = {}
    for split in ("test", "dev"):  # train.docs is over the size a snapshot carries
        for line in show(mirror, MEDISEARCH, base + f"{split}.docs").decode().splitlines():
            if line.strip():
                did, text = line.split("\t", 1)
                docs.setdefault(did, text.strip())
    corpus = [{"_id": d, "title": "", "text": t} for d, t in sorted(docs.items())]
    queries: dict[str, str] = {}
    topics = gzip.decompress(show(mirror, ANSERINI, "topics/topics.beir-v1.0.0-nfcorpus.test.tsv.gz")).decode()
    queries.update((q, t) for q, t in (line.split("\t", 1) for line in topics.splitlines() if line))
    for split in ("dev", "train"):  # the release's titles (lower-cased): BEIR's own text is not here
        for line in show(mirror, MEDISEARCH, base + f"{split}.titles.queries").decode().splitlines():
            if line.strip():
                q, t = line.split("\t", 1)
                queries.setdefault(q, t)
    qrels = {split: [r for r in trec(show(mirror, MEDISEARCH, base + f"{split}.2-1-0.qrel").decode()) if r[2] > 0]
             for split in ("test", "dev", "train")}
    write(out / "nfcorpus", corpus, [{"_id": q, "text": t} for q, t in sorted(queries.items())], qrels)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mirror", type=Path)
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    scifact(args.mirror, args.out)
    nfcorpus(args.mirror, args.out)
