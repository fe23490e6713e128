"""How well the pii role's profanity flag (alt-profanity-check, model_artifacts/pii) separates
offensive from other text, read as the pipeline reads it: a text is flagged when any of its
sentences scores at least the threshold (the role's own ``units`` and classifier, as ``profane``
calls them in the endpoint).

    .venv/bin/python bench/profanity.py --olid OLID_DIR [--neutral AG_NEWS.csv] [--thresholds 0.5,0.7,0.9]

OLID_DIR: OffensEval 2019's level-A test set, ``testset-levela.tsv`` (id, tweet) and
``labels-levela.csv`` (id,OFF|NOT) as the OLID release lays them out. ``--neutral``: a CSV of
texts that should not be flagged (AG News' test.csv: class, title, description); its rate of
flagged texts is printed per threshold. Prints ROC AUC of the flag's score (the highest sentence
score) and of the classifier over the whole text, and precision, recall and F1 per threshold.
"""
from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def load_olid(folder: Path) -> tuple[list[str], list[int]]:
    """The level-A test tweets and their labels (1: offensive), in the order of the tweets."""
    with (folder / "testset-levela.tsv").open(encoding="utf-8", newline="") as f:
        tweets = [(row["id"], row["tweet"]) for row in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)]
    with (folder / "labels-levela.csv").open(encoding="utf-8", newline="") as f:
        labels = {row[0]: row[1].strip() for row in csv.reader(f) if row}
    missing = [i for i, _ in tweets if i not in labels]
    if missing:
        raise SystemExit(f"{len(missing)} tweets have no label, e.g. {missing[0]}")
    return [t for _, t in tweets], [1 if labels[i] == "OFF" else 0 for i, _ in tweets]


def load_neutral(path: Path) -> list[str]:
    with path.open(encoding="utf-8", newline="") as f:
        return [" ".join(cell for cell in row[1:]).strip() for row in csv.reader(f) if len(row) > 1]


def scores(texts: list[str], inference: Any, profanity: dict[str, Any]) -> tuple[list[float], list[float]]:
    """Per text: the highest sentence score (what flags a chunk) and the score of the whole text."""
    flag = []
    for text in texts:
        spans = inference.units(text)  # none for a blank text, which scores 0
        flag.append(max((float(p) for p in profanity["predict_prob"]([text[s:e] for s, e in spans])), default=0.0)
                    if spans else 0.0)
    whole = [float(p) for p in profanity["predict_prob"](texts)] if texts else []
    return flag, whole


def table(labels: list[int], flag: list[float], thresholds: list[float]) -> list[tuple[float, float, float, float, int]]:
    """(threshold, precision, recall, F1, flagged texts) per threshold."""
    from sklearn.metrics import precision_recall_fscore_support

    rows = []
    for t in thresholds:
        flagged = [1 if s >= t else 0 for s in flag]
        p, r, f1, _ = precision_recall_fscore_support(labels, flagged, average="binary", zero_division=0)
        rows.append((t, float(p), float(r), float(f1), sum(flagged)))
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--olid", type=Path, required=True)
    parser.add_argument("--neutral", type=Path)
    parser.add_argument("--thresholds", default="0.5,0.7,0.9")
    args = parser.parse_args(argv)
    try:
        thresholds = [float(t) for t in args.thresholds.split(",")]
    except ValueError:
        parser.error(f"--thresholds: not numbers: {args.thresholds}")
    # The endpoint sends no sentence below its decision boundary (PROFANITY_MIN_SCORE, 0.5).
    if not all(0.5 <= t <= 1 for t in thresholds):
        parser.error("--thresholds: each between 0.5 (the endpoint's floor) and 1")
    for name in ("testset-levela.tsv", "labels-levela.csv"):
        if not (args.olid / name).is_file():
            parser.error(f"--olid: no {name} in {args.olid}")
    if args.neutral and not args.neutral.is_file():
        parser.error(f"--neutral: no file {args.neutral}")

    from sklearn.metrics import roc_auc_score

    from model_artifacts.code_modules import load_inference

    inference = load_inference("pii")
    started = time.perf_counter()
    from profanity_check import predict_prob

    profanity = {"predict_prob": predict_prob}
    print(f"model: alt-profanity-check (loaded in {time.perf_counter() - started:.1f} s)")
    texts, labels = load_olid(args.olid)
    started = time.perf_counter()
    flag, whole = scores(texts, inference, profanity)
    took = time.perf_counter() - started
    print(f"OLID level A test: {len(texts)} tweets, {sum(labels)} offensive; {1000 * took / len(texts):.2f} ms per tweet")
    both = len(set(labels)) == 2
    print(f"ROC AUC: flag (highest sentence) {roc_auc_score(labels, flag):.3f}, whole text "
          f"{roc_auc_score(labels, whole):.3f}" if both else "ROC AUC: needs both labels")
    print("\n| scored | threshold | precision | recall | F1 | flagged | non-offensive flagged |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    negatives = len(labels) - sum(labels)
    for name, values in (("highest sentence (the flag)", flag), ("whole text", whole)):
        for t, p, r, f1, n in table(labels, values, thresholds):
            false = sum(1 for y, s in zip(labels, values) if not y and s >= t)
            print(f"| {name} | {t:.2f} | {p:.3f} | {r:.3f} | {f1:.3f} | {n} | {false / negatives if negatives else 0:.3%} |")
    if args.neutral:
        neutral = load_neutral(args.neutral)
        nflag, _ = scores(neutral, inference, profanity)
        print(f"\nneutral texts ({args.neutral.name}): {len(neutral)}")
        print("| threshold | flagged | rate |")
        print("|---:|---:|---:|")
        for t in thresholds:
            n = sum(1 for s in nflag if s >= t)
            print(f"| {t:.2f} | {n} | {n / len(neutral) if neutral else 0:.3%} |")
        worst = sorted(zip(nflag, neutral), reverse=True)[:5]
        print("highest-scoring neutral texts: " + "; ".join(f"{s:.2f} {text[:70]!r}" for s, text in worst))


if __name__ == "__main__":
    main()
