"""The benchmark harness runs end to end: a few clients, a few seconds.

Speed is never asserted here: the machines are shared and noisy. This only
checks that bench/smoke.sh starts the peers, drives them with the load
generator and prints a table whose cells are numbers.
"""

import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ROOT / "bench" / "smoke.sh"

FIGURES_WITH_NUMBERS = [
    "authenticated connects/s",
    "connect time p50",
    "ack p50, small client count",
    "ack p99, large client count",
    "acked events/s at saturation",
    "broadcast deliveries/s",
    "idle sockets held",
    "RSS per idle socket",
]
NUMBER = re.compile(r"\*\*[\d,.]+\*\*")


@pytest.mark.timeout(240)
def test_bench_smoke_runs_end_to_end(tmp_path):
    out_md = tmp_path / "smoke.md"
    env = dict(os.environ, PY=str(ROOT / ".venv" / "bin" / "python"))
    proc = subprocess.run(
        ["bash", str(SMOKE), "--out", str(out_md), "--json", str(tmp_path / "smoke.json")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=230,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    rows = [line for line in proc.stdout.splitlines() if line.startswith("|")]
    assert rows, proc.stdout
    header = [c.strip() for c in rows[0].strip("|").split("|")]
    peers = header[1:]
    assert len(peers) >= 2, header
    for figure in FIGURES_WITH_NUMBERS:
        row = next((r for r in rows if r.startswith(f"| {figure}")), None)
        assert row is not None, f"no row {figure!r} in\n" + "\n".join(rows)
        cells = [c.strip() for c in row.strip("|").split("|")][1:]
        assert len(cells) == len(peers)
        for peer, cell in zip(peers, cells, strict=False):
            assert NUMBER.search(cell), f"{figure} for {peer} is not a number: {cell!r}"
    report = out_md.read_text()
    assert "## Results" in report and "## Machine and versions" in report
