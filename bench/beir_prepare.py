"""Write SciFact, NFCorpus and ArguAna in BEIR layout (corpus.jsonl, queries.jsonl, qrels/<split>.tsv)
from the public GitHub copies named in PROVENANCE.md, read out of `fetch` snapshots (git dirs).

    .venv/bin/python bench/beir_prepare.py MIRROR OUT [--datasets scifact,nfcorpus,arguana]

MIRROR: the folder holding one `owner+name/repo` git dir per repository (a snapshot of each
repository named below, at least at the commit named); OUT gets one folder per dataset. A dataset
whose snapshots are missing is skipped with a message.
"""
from __future__ import annotations

import argparse
import ast
import csv
import gzip
import io
import json
import random
import re
import subprocess
import zipfile
from collections.abc import Callable
from pathlib import Path

CLAIMVERIFIER = ("sumithra-p-v+claimverifier", "b42f1c3444b28884ddcfadffafbfe223646c6c37")
MEDISEARCH = ("hakimamarullah+medisearch-api", "0ae71a4bb2416506dbdd9a5f8894e7830b99f19f")
ANSERINI = ("castorini+anserini-tools", "5b819c1a45c8a0a3ec9426f476694f44a29dfaf3")
# the ArguAna counterargs corpus (Wachsmuth et al. 2018) as released, one file per argument; the
# repository deleted it in a later commit, so this is the last commit that has it
COUNTERARGS = ("cchang-vassar+Semantic-Relations-in-Vector-Embeddings", "420c6ae764718840c05770926528dbecf1c3417a")
ARGUANA_DOCS = 5000
ARGUANA_SEED = 7
URL = re.compile(r"https?://\S+")
# numpy's repr of an array of sentences: '...' or "..." literals separated by whitespace
LITERAL = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"", re.S)


def show(mirror: Path, repo: tuple[str, str], path: str) -> bytes:
    return subprocess.run(["git", f"--git-dir={mirror / repo[0] / 'repo'}", "show", f"{repo[1]}:{path}"],
                          check=True, capture_output=True).stdout


def show_many(mirror: Path, repo: tuple[str, str], paths: list[str]) -> list[bytes]:
    """The blobs at `paths`, in order, from one `git cat-file --batch` (13k files: one process each is slow)."""
    batch = subprocess.run(["git", f"--git-dir={mirror / repo[0] / 'repo'}", "cat-file", "--batch"],
                           input="".join(f"{repo[1]}:{p}\n" for p in paths).encode(), check=True,
                           capture_output=True).stdout
    blobs, pos = [], 0
    for path in paths:
        end = batch.index(b"\n", pos)
        header = batch[pos:end].split()
        if header[-1] == b"missing":
            raise FileNotFoundError(f"{repo[0]}@{repo[1][:8]}:{path}")
        size = int(header[2])
        blobs.append(batch[end + 1:end + 1 + size])
        pos = end + 1 + size + 1
    return blobs


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


def arguana(mirror: Path, out: Path, docs: int = ARGUANA_DOCS, seed: int = ARGUANA_SEED) -> None:
    """ArguAna (query: an argument; relevant: its counter-argument) rebuilt from the original corpus:
    BEIR's test split exactly (queries, qrels and document text), plus a dev split made the same way
    from the corpus's validation debates (less the pairs whose text recurs in the test split); every
    judged document plus seeded distractors from the training debates, `docs` documents in all. The
    queries' own arguments are left out of the corpus: BEIR scores ArguAna ignoring identical query
    and document ids, which search_quality.py does not."""
    base = "arguana-counterargs-corpus/02-extracted-arguments/"
    listing = subprocess.run(["git", f"--git-dir={mirror / COUNTERARGS[0] / 'repo'}", "ls-tree", "-r", "--name-only",
                              COUNTERARGS[1], base], check=True, capture_output=True, text=True).stdout.splitlines()
    paths = [p for p in listing if p.endswith(("-point.txt", "-counter.txt"))]
    arguments: dict[str, dict] = {}
    for path, blob in zip(paths, show_many(mirror, COUNTERARGS, paths)):
        split, theme, debate, _side, name = path[len(base):].split("/")
        # BEIR's ids: split-theme-<initials of the debate's folder>-<pro01a|pro01b|...> (a = point,
        # b = its counter); its text drops URLs and joins lines with spaces (checked on 6 documents of
        # a BEIR corpus.jsonl and on all 1,406 test queries); only test arguments carry the folder as title
        did = f"{split}-{theme}-{''.join(w[0] for w in debate.split('-') if w)}-{name.split('-')[0]}"
        arguments[did] = {"_id": did, "title": debate.replace("-", " ").strip() if split == "test" else "",
                          "text": URL.sub("", blob.decode("utf-8")).replace("\n", " ").strip()}
    points = {split: sorted(d for d in arguments if d.startswith(split + "-") and d.endswith("a"))
              for split in ("test", "validation")}
    # BEIR's test qrels are exactly point -> counter over the test debates (1,406 pairs; the release
    # lacks 5 of those counters, so 1,401 test queries can be scored); dev: the same over the validation debates
    qrels = {"test": trec(show(mirror, ANSERINI, "qrels/qrels.beir-v1.0.0-arguana.test.txt").decode())}
    assert sorted((q, d) for q, d, _ in qrels["test"]) == [(q, q[:-1] + "b") for q in points["test"]], "test qrels differ"
    # many debates recur under two themes or in both splits (227 validation points repeat a test
    # query): a dev pair is kept only when neither text is in the test split or in an earlier dev pair
    seen = {a["text"] for d, a in arguments.items() if d.startswith("test-")}
    qrels["dev"] = []
    for q in points["validation"]:
        d = q[:-1] + "b"
        if d in arguments and not {arguments[q]["text"], arguments[d]["text"]} & seen:
            seen |= {arguments[q]["text"], arguments[d]["text"]}
            qrels["dev"].append((q, d, 1))
    topics = gzip.decompress(show(mirror, ANSERINI, "topics/topics.beir-v1.0.0-arguana.test.tsv.gz")).decode()
    queries = dict(line.split("\t", 1) for line in topics.splitlines() if line)
    assert all(queries[q] == arguments[q]["text"] for q in points["test"]), "test queries differ from their arguments"
    queries.update((q, arguments[q]["text"]) for q, _, _ in qrels["dev"])
    judged = sorted({d for rows in qrels.values() for _, d, _ in rows if d in arguments})
    # distractors never repeat a query's or a kept document's text
    seen = {arguments[d]["text"] for d in judged} | set(queries.values())
    rest = []
    for d in sorted(d for d in arguments if d.startswith("training-")):
        if arguments[d]["text"] not in seen:
            seen.add(arguments[d]["text"])
            rest.append(d)
    random.Random(seed).shuffle(rest)
    corpus = [arguments[d] for d in sorted(judged + rest[:max(0, docs - len(judged))])]
    write(out / "arguana", corpus, [{"_id": q, "text": t} for q, t in sorted(queries.items())], qrels)


DATASETS: dict[str, tuple[Callable[[Path, Path], None], tuple[tuple[str, str], ...]]] = {
    "scifact": (scifact, (CLAIMVERIFIER, ANSERINI)),
    "nfcorpus": (nfcorpus, (MEDISEARCH, ANSERINI)),
    "arguana": (arguana, (COUNTERARGS, ANSERINI)),
}


def has_commit(mirror: Path, repo: tuple[str, str]) -> bool:
    return subprocess.run(["git", f"--git-dir={mirror / repo[0] / 'repo'}", "cat-file", "-e", f"{repo[1]}^{{commit}}"],
                          capture_output=True).returncode == 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mirror", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--datasets", default=",".join(DATASETS), help="comma-separated, of: " + ", ".join(DATASETS))
    args = parser.parse_args()
    names = args.datasets.split(",")
    if unknown := set(names) - set(DATASETS):
        parser.error(f"unknown datasets: {', '.join(sorted(unknown))}")
    for name in names:
        prepare, repos = DATASETS[name]
        if missing := [f"{r[0].replace('+', '/')} @ {r[1][:8]}" for r in repos if not has_commit(args.mirror, r)]:
            print(f"{name}: skipped, {args.mirror} has no snapshot of {', '.join(missing)} (fetch it)")
            continue
        prepare(args.mirror, args.out)
