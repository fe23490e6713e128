"""bench/pipeline.py in a tiny mode: 3 files of the mixed set (2 images, a document), the design
and the naive mode, each in a child process running the whole local pipeline (without the random
tiny CLIP and Florence-2 containers, --no-tiny: tests/integration/bench/test_duplicates_bench.py
starts those); figures and logs into pytest's folder."""
from __future__ import annotations

import json
import re


def test_the_pipeline_benchmark_compares_design_and_naive(run_bench, bench_table, tmp_path):
    done = run_bench("bench/pipeline.py", "--sets", "mixed", "--files", "3", "--no-tiny", "--out-dir", str(tmp_path))
    out = done.stdout
    assert "## mixed: 3 files" in out
    modes = {r["mode"]: r for r in bench_table(out, "| mode | executions |")}
    assert list(modes) == ["design", "naive"]
    assert int(modes["design"]["executions"]) == 1  # one Kafka batch of 3 <= batch_size: one execution
    assert int(modes["naive"]["executions"]) == 3  # one per file
    for r in modes.values():
        assert float(r["wall s"]) > 0 and float(r["files/min"]) > 0
        assert float(r["peak RSS MB, pipeline"]) > 0 and float(r["peak RSS MB, model servers"]) > 0
    per_modality = bench_table(out, "| modality | files | mode |")
    for mode in modes:
        rows = {r["modality"]: r for r in per_modality if r["mode"] == mode}
        assert {m: r["files"] for m, r in rows.items()} == {"image": "2 (0 failed)", "document": "1 (0 failed)"}
        for r in rows.values():
            assert float(r["transitions/file"]) >= 4  # at least the four task states
            assert float(r["Lambda inv./file"]) >= 4
            assert float(r["endpoint calls/file"]) > 0
    ratio = re.search(r"^design / naive files per minute: ([\d.]+)x$", out, re.M)
    assert ratio and float(ratio.group(1)) > 0
    saved = json.loads((tmp_path / "pipeline-mixed.json").read_text())
    assert {mode: saved[mode]["executions"] for mode in saved} == {"design": 1, "naive": 3}
    assert (tmp_path / "pipeline-mixed-design.log").exists() and (tmp_path / "pipeline-mixed-naive.log").exists()
