"""bench/search_quality.py in a tiny mode: a BEIR-layout dataset written here (twelve short
documents on distinct topics, judged queries in a dev and a test split), ingested through the
whole local pipeline, then evaluated with the fusion tuned on dev. The figures are checked for
shape and sense, not for a level: the real figures come from public benchmarks (bench/README.md)."""
from __future__ import annotations

import json

DOCS = {
    "d1": ("Volcanoes", "Basaltic lava flows from shield volcanoes in Hawaii cool into black rock."),
    "d2": ("Glaciers", "Alpine glaciers retreat as summers warm; meltwater feeds the valley rivers."),
    "d3": ("Coral reefs", "Bleaching of coral reefs follows marine heatwaves in tropical seas."),
    "d4": ("Sourdough", "A sourdough starter of flour and water ferments with wild yeast and lactobacilli."),
    "d5": ("Espresso", "Espresso is brewed by forcing hot water through finely ground coffee under pressure."),
    "d6": ("Chess openings", "The Sicilian Defence answers the king's pawn opening with the c-pawn."),
    "d7": ("Bicycle gears", "A derailleur moves the chain between sprockets to change the gear ratio."),
    "d8": ("Honeybees", "Honeybees communicate the direction of flowers with a waggle dance."),
    "d9": ("Tides", "The gravitational pull of the moon raises two tidal bulges on the oceans."),
    "d10": ("Vaccines", "Vaccines train the immune system with an antigen so that antibodies are ready."),
    "d11": ("Origami", "Origami folds a single square sheet of paper into a crane without cutting."),
    "d12": ("Lighthouses", "A lighthouse lens of Fresnel rings focuses the lamp into a beam for ships."),
}
QUERIES = {"q1": ("test", "how do bees tell each other where flowers are", "d8"),
           "q2": ("test", "why does the sea rise and fall twice a day", "d9"),
           "q3": ("test", "fermenting bread dough with wild yeast", "d4"),
           "q4": ("dev", "melting ice in mountain valleys", "d2"),
           "q5": ("dev", "coffee brewed under pressure", "d5"),
           "q6": ("dev", "folding paper birds", "d11")}


def test_the_search_quality_harness_ingests_through_the_pipeline_and_scores_every_system(run_bench, bench_table, tmp_path):
    data, work = tmp_path / "tiny-beir", tmp_path / "work"
    (data / "qrels").mkdir(parents=True)
    (data / "corpus.jsonl").write_text("".join(json.dumps({"_id": i, "title": t, "text": x}) + "\n" for i, (t, x) in DOCS.items()))
    (data / "queries.jsonl").write_text("".join(json.dumps({"_id": q, "text": t}) + "\n" for q, (_, t, _) in QUERIES.items()))
    for split in ("dev", "test"):
        (data / "qrels" / f"{split}.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(
            f"{q}\t{d}\t1\n" for q, (s, _, d) in QUERIES.items() if s == split))
    ingested = run_bench("bench/search_quality.py", "ingest", str(data), str(work), "--docs", "12", "--queries", "3",
                         "--wave", "12", timeout=1200)
    assert "'succeeded': 12" in ingested.stdout, ingested.stdout  # every document stored, none failed
    done = run_bench("bench/search_quality.py", "evaluate", str(data), str(work), "--split", "test", "--tune", "dev",
                     "--json", str(tmp_path / "figures.json"), timeout=1200)
    rows = {r["system"]: r for r in bench_table(done.stdout.split("## tiny-beir / test")[1], "| system |")}
    assert set(rows) == {"ours (defaults)", "ours (tuned on dev)", "ours/text alone", "ours/lexical alone",
                         "bm25 (reference)", "minilm (whole document)", "rrf(bm25, minilm)"}
    for r in rows.values():
        assert all(0.0 <= float(r[m]) <= 1.0 for m in ("nDCG@10", "Recall@100", "MRR@10"))
    # twelve documents on distinct topics: the search finds each query's document near the top
    assert float(rows["ours (defaults)"]["MRR@10"]) >= 0.5
    assert float(rows["ours (defaults)"]["Recall@100"]) == 1.0
    figures = json.loads((tmp_path / "figures.json").read_text())
    assert figures["documents"] == 12 and figures["tuned"]["on"] == "dev"
