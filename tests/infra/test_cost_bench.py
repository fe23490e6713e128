"""bench/cost.py's main end to end on the session's synthesized template (`--template`, so no
synth of its own): the tables it prints add up and price what the template deploys."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _usd(cell: str) -> float:
    return float(cell.strip("* $").replace(",", ""))


def _rows(text: str, header: str) -> list[list[str]]:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def test_the_cost_benchmark_prices_the_synthesized_template(template_path, template_json):
    done = subprocess.run([sys.executable, "bench/cost.py", "--settings", "current", "--template", str(template_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
    out = done.stdout
    assert out.startswith("### current: as cdk.json is now")
    *lines, total = _rows(out, "| item | quantity |")
    assert total[0] == "**at rest, a month with no files**"
    # Each line is rounded to the cent or the dollar as printed, the total from the unrounded lines.
    assert abs(sum(_usd(line[3]) for line in lines) - _usd(total[3])) <= len(lines)
    endpoints = sum(1 for r in template_json["Resources"].values() if r["Type"] == "AWS::SageMaker::Endpoint")
    assert endpoints and sum(1 for line in lines if line[0].startswith("SageMaker endpoint ")) == endpoints
    *components, per_million = _rows(out, "| per million files (marginal) |")
    assert per_million[0] == "**total**" and _usd(per_million[1]) > 0
    assert abs(sum(_usd(c[1]) for c in components) - _usd(per_million[1])) <= len(components)
    assert {c[0] for c in components} >= {"Step Functions transitions", "Lambda GB-s and requests",
                                          "SageMaker instance-hours while busy"}
    [summary] = _rows(out, "| setting | at rest / month |")
    assert summary[0] == "current: as cdk.json is now"
    assert (_usd(summary[1]), _usd(summary[2])) == (_usd(total[3]), _usd(per_million[1]))
    assert summary[3] == ("yes" if _usd(total[3]) <= 1000 else "no")
    assert re.search(r"No hourly price \(per use only or free\): .*\d+ Lambda::Function", out)
