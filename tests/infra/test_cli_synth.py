"""`npx cdk synth` (the pinned CLI) succeeds offline, with no AWS account and no Docker."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(not (ROOT / "node_modules" / ".bin" / "cdk").exists(), reason="run `npm ci` first (make setup does)")
def test_npx_cdk_synth_succeeds_offline(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"CDK_DISABLE_VERSION_CHECK": "1", "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "1",
                "PATH": f"{ROOT / '.venv' / 'bin'}:{env['PATH']}"})
    result = subprocess.run(
        ["npx", "--no-install", "cdk", "synth", "--quiet", "--no-notices", "--output", str(tmp_path / "cdk.out")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert list((tmp_path / "cdk.out").glob("*.template.json"))
    assert shutil.which("docker") is None or "docker" not in result.stderr.lower()
