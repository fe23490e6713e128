"""bench/profanity.py on an OLID-layout folder and a neutral CSV the test writes: the flag's table
counts what the real classifier (alt-profanity-check) scores, per threshold."""
from __future__ import annotations

import csv
from pathlib import Path


def _olid(folder: Path) -> None:
    folder.mkdir()
    tweets = [("1", "@USER you are a fucking idiot", "OFF"), ("2", "what a beautiful morning by the lake", "NOT"),
              ("3", "Thanks for the ride. This shit is so broken, damn it.", "OFF"),
              ("4", "The council meets on Tuesday to vote on the budget.", "NOT")]
    with (folder / "testset-levela.tsv").open("w", encoding="utf-8", newline="") as f:
        f.write("id\ttweet\n" + "".join(f"{i}\t{t}\n" for i, t, _ in tweets))
    (folder / "labels-levela.csv").write_text("".join(f"{i},{y}\n" for i, _, y in tweets), encoding="utf-8")


def test_offensive_tweets_are_flagged_and_neutral_texts_are_not(tmp_path, run_bench, bench_table):
    _olid(tmp_path / "olid")
    with (tmp_path / "news.csv").open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([["1", "Markets rally", "Stocks rose on Monday after the report."],
                                 ["4", "New chip", "The company showed a faster processor."]])
    out = run_bench("bench/profanity.py", "--olid", str(tmp_path / "olid"), "--neutral", str(tmp_path / "news.csv"),
                    "--thresholds", "0.5,0.9").stdout
    assert "OLID level A test: 4 tweets, 2 offensive" in out
    rows = {(r["scored"], r["threshold"]): r for r in bench_table(out, "| scored")}
    flag = rows[("highest sentence (the flag)", "0.50")]
    assert (flag["precision"], flag["recall"], flag["flagged"]) == ("1.000", "1.000", "2")
    neutral = {r["threshold"]: r for r in bench_table(out, "| threshold | flagged")}
    assert neutral["0.50"]["flagged"] == "0"
