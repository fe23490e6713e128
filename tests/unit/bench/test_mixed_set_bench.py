"""bench/mixed_set.py in a tiny mode: 25 files, the smallest set with every modality and a scanned PDF."""
from __future__ import annotations

import ast
import re
from collections import Counter


def test_the_mixed_set_writes_the_files_it_prints(run_bench, tmp_path):
    out = tmp_path / "set"
    done = run_bench("bench/mixed_set.py", str(out), "--files", "25")
    match = re.search(r"^(\d+) files in (.+): (\{.*\})$", done.stdout, re.MULTILINE)
    assert match, done.stdout
    printed = ast.literal_eval(match.group(3))
    # The stated mix (60/20/10/5/5 %) by largest remainder: every modality, summing to what was asked.
    assert printed == {"image": 15, "document": 5, "text": 3, "audio": 1, "video": 1}
    assert int(match.group(1)) == 25
    files = [p for p in out.rglob("*") if p.is_file()]
    assert Counter(p.parent.name for p in files) == printed
    assert all(p.stat().st_size > 0 for p in files)
    assert (out / "document" / "scan-0004.pdf").exists()  # every fifth PDF is a scanned page
    assert {p.suffix for p in files} >= {".jpg", ".png", ".pdf", ".docx", ".txt", ".wav", ".mp4"}
