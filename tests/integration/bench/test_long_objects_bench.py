"""bench/long_objects.py in a tiny mode: a 3-page PDF in segments of 2 pages and 30 s of audio
in segments of 15 s (a speech window, 30 s, at least), one after the other through the whole
local pipeline, segments Map included (without the random tiny CLIP and Florence-2 containers:
tests/integration/bench/test_duplicates_bench.py starts those)."""
from __future__ import annotations

import re


def _invocations(cell: str) -> dict[str, int]:
    return {name: int(n) for name, n, _ in re.findall(r"(\w+) (\d+) \(([\d.]+)\)", cell)}


def test_the_long_objects_benchmark_runs_each_file_in_segments(run_bench, bench_table, tmp_path):
    timeout = 600
    done = run_bench("bench/long_objects.py", "--kinds", "pdf,audio", "--pages", "3", "--minutes", "0.5",
                     "--segment-pages", "2", "--segment-seconds", "15", "--timeout", str(timeout), "--no-tiny",
                     "--work", str(tmp_path))
    assert "gave up waiting" not in done.stderr  # the second file used to wait out --timeout
    assert "segment_seconds 15, segment_pages 2" in done.stdout
    rows = {r["file"]: r for r in bench_table(done.stdout, "| file | MB |")}
    assert list(rows) == ["documents/manual-3p.pdf", "audio/hour-0.5min.mp3"]
    pdf, audio = rows.values()
    assert int(pdf["segments"]) == 2  # pages 1-2 and 3
    assert int(audio["segments"]) >= 1
    for r in rows.values():
        assert r["status"] == "succeeded"
        assert 0 < float(r["wall s"]) < timeout
        assert 0 < int(r["chunks"]) <= int(r["vectors"])
        assert 0 < int(r["transitions"]) < int(r["history events"])
        assert float(r["peak RSS MB"]) > 0
        # extract: the plan, one invocation per segment, the assembly; then one of each later step
        assert _invocations(r["Lambda invocations (longest s)"]) == {
            "extract": int(r["segments"]) + 2, "scan": 1, "generate": 1, "embed": 1, "store": 1}
    assert int(pdf["chunks"]) >= 3  # a chunk per page at least
    assert re.search(r"\bspeech [1-9]", audio["endpoint calls"])
    assert re.search(r"\btext_embedding [1-9]", pdf["endpoint calls"])
