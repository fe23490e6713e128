"""bench/taxonomy.py in a tiny mode: 48 topical sentences in the AG News layout (written here),
zero-shot and 2-shot labels from the real all-MiniLM-L6-v2 server, the TF-IDF baseline, and
more-like-this over 36 stored objects filled to 300."""
from __future__ import annotations

import csv

TOPICS = {
    1: ["Talks between the two governments collapsed", "The prime minister won the election",
        "Troops crossed the border overnight", "The UN called for a ceasefire", "Protesters marched on parliament",
        "The embassy was closed after the attack", "Rebels seized the capital", "Diplomats met in Geneva",
        "The president vetoed the bill", "Voters went to the polls", "Refugees fled the fighting",
        "The minister resigned over the scandal"],
    2: ["The striker scored twice in the final", "She won the tennis title in straight sets",
        "The quarterback threw three touchdowns", "The team lost in extra time", "He broke the world record in the sprint",
        "The coach was sacked after the defeat", "The pitcher threw a no-hitter", "The league cancelled the match",
        "The cyclist won the mountain stage", "The boxer kept his belt", "The goalkeeper saved a penalty",
        "The club signed a new midfielder"],
    3: ["Shares fell after weak quarterly earnings", "The bank raised interest rates", "Oil prices hit a record high",
        "The company agreed to a merger", "Retail sales slowed in March", "The airline cut its profit forecast",
        "Investors sold technology stocks", "The firm will lay off staff", "Inflation rose to four percent",
        "The carmaker's revenue grew", "The takeover bid was rejected", "The dollar weakened against the euro"],
    4: ["The new smartphone has a faster chip", "Astronomers found a planet around a nearby star",
        "The software update fixes a security flaw", "Researchers built a quantum computer",
        "The browser adds support for web apps", "NASA launched a probe to Mars", "A virus infected millions of PCs",
        "The chipmaker unveiled a new processor", "Scientists mapped the genome of the plant",
        "The search engine indexed more pages", "Engineers tested the robot arm", "The laptop battery lasts longer"],
}


def test_the_taxonomy_benchmark_scores_zero_shot_few_shot_and_the_baseline(run_bench, bench_table, tmp_path):
    data = tmp_path / "news.csv"
    with data.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        for label, titles in TOPICS.items():
            for title in titles:
                writer.writerow([label, title, f"{title}, reports said on Monday."])
    done = run_bench("bench/taxonomy.py", str(data), "--train", "12", "--shots", "0,2", "--queries", "5",
                     "--objects", "300")
    rows = {r["method"]: r for r in bench_table(done.stdout, "| method |")}
    assert list(rows) == ["zero-shot (descriptions)", "few-shot (2 examples per class)",
                          "TF-IDF + logistic regression (12 labelled)"]
    for r in rows.values():
        assert 0.0 <= float(r["macro-F1"]) <= 1.0 and 0.0 <= float(r["accuracy"]) <= 1.0
    # plainly topical sentences: the label descriptions alone find most of them
    assert float(rows["zero-shot (descriptions)"]["macro-F1"]) >= 0.6
    recs = bench_table(done.stdout, "| objects |")
    assert [(r["objects"], r["diversity"]) for r in recs] == [("36", "0.0"), ("36", "0.3"), ("300", "0.0"), ("300", "0.3")]
    for r in recs:
        assert 0.0 <= float(r["precision@10 (same class)"]) <= 1.0 and 0 < float(r["p50 ms"]) <= float(r["p95 ms"])


# Three judged queries over topical sentences, the first two of each judged 2 (direct), the rest 1,
# and distractors no query judges: BEIR layout, as bench/recommend_beir.py reads it.
BEIR_TOPICS = {
    "q1": ["The striker scored twice in the cup final", "The goalkeeper saved a late penalty",
           "The club signed a new midfielder", "The team lost in extra time"],
    "q2": ["The bank raised interest rates again", "Inflation rose to four percent", "Oil prices hit a record high",
           "The dollar weakened against the euro"],
    "q3": ["Astronomers found a planet around a nearby star", "NASA launched a probe to Mars",
           "The telescope imaged a distant galaxy"],
}
DISTRACTORS = ["The recipe needs two eggs and flour", "The museum opened a new wing", "Heavy rain flooded the valley",
               "The orchestra played Mahler", "A new bridge crosses the river", "The festival drew large crowds"]


def test_the_beir_recommendation_benchmark_scores_related_neighbours_against_ceiling_and_random(
        run_bench, bench_table, tmp_path):
    import json

    (tmp_path / "qrels").mkdir()
    docs = [{"_id": f"{q}-{j}", "title": "", "text": f"{t}, reports said."}
            for q, texts in BEIR_TOPICS.items() for j, t in enumerate(texts)]
    docs += [{"_id": f"x-{j}", "title": "", "text": t} for j, t in enumerate(DISTRACTORS)]
    (tmp_path / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    (tmp_path / "queries.jsonl").write_text("".join(json.dumps({"_id": q, "text": q}) + "\n" for q in BEIR_TOPICS))
    (tmp_path / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(
        f"{q}\t{q}-{j}\t{2 if j < 2 else 1}\n" for q, texts in BEIR_TOPICS.items() for j in range(len(texts))))
    done = run_bench("bench/recommend_beir.py", str(tmp_path), "--relations", "test:1,test:2", "--vectors", "whole,chunks")
    assert "model sentence-transformers/all-MiniLM-L6-v2" in done.stdout
    rows = bench_table(done.stdout, "| vectors |")
    methods = ["similar_to, diversity 0.0", "similar_to, diversity 0.3", "exact cosine (numpy)", "random (expected)"]
    assert [(r["vectors"], r["related when"], r["method"]) for r in rows] == [
        (v, f"test, relevance >= {g}", m) for v in ("whole", "chunks") for g in (1, 2) for m in methods]
    for r in rows:
        # every judged document is a seed at grade 1 (11, each with 3 or 2 related: ceiling 30/110);
        # at grade 2 the six direct ones, one related each
        seeds, ceiling = (11, 30 / 110) if r["related when"].endswith("1") else (6, 0.1)
        assert int(r["seeds"]) == seeds and float(r["ceiling"]) == round(ceiling, 3)
        assert 0.0 <= float(r["precision@10"]) <= float(r["ceiling"]) and 0.0 <= float(r["capped R-precision"]) <= 1.0
        if r["method"].startswith("similar_to"):
            assert 0 < float(r["p50 ms"]) <= float(r["p95 ms"])
    by = {(r["vectors"], r["related when"], r["method"]): r for r in rows}
    for v in ("whole", "chunks"):
        # plainly topical sentences: the model's neighbours beat chance by far
        assert float(by[(v, "test, relevance >= 1", "similar_to, diversity 0.0")]["capped R-precision"]) >= 0.8
        assert float(by[(v, "test, relevance >= 1", "random (expected)")]["capped R-precision"]) < 0.7
