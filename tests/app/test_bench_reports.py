"""The benchmark reports come out of their templates unchanged: same results, same markdown.

Each report (docs/benchmarks.md, docs/benchmarks-chat.md, docs/benchmarks-scale.md) is rendered
from a small results JSON under tests/app/data and compared byte for byte with the markdown
committed next to it. A template or formatting change that alters a report fails here. When the
change is meant, render the expected file again with the command in the failure message and
review its diff.

The fixtures are trimmed result files: bench-main-smoke from a smoke run; bench-main-full and
bench-main-noapp from the same figures with a Node peer, the app with audit off, a generator
proof, a busy generator and a run without the app added, so that every section of the main
report is rendered; bench-chat and bench-scale from full chat and scale-out runs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import bench, chat, config, report, scale
from bench.servers import Server
from bench.summary import summarize

DATA = Path(__file__).parent / "data"
# Stands in for bench/analysis.md, which a full run's report ends with and which changes with
# every analysis.
ANALYSIS = "## Where the time goes\n\nThe analysis of the figures (bench/analysis.md) goes here.\n"


def expected(name: str) -> str:
    return (DATA / f"{name}.md").read_text(encoding="utf-8")


def results(name: str) -> dict:
    return json.loads((DATA / f"{name}.json").read_text(encoding="utf-8"))


def again(command: str) -> str:
    return f"the report changed; if that is meant, re-render it: {command}"


@pytest.fixture
def pinned_inputs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """What the main report takes from outside its results: the priority (BENCH_NICE) and the analysis."""
    monkeypatch.setattr(config, "NICE", "-10")
    analysis = tmp_path / "analysis.md"
    analysis.write_text(ANALYSIS, encoding="utf-8")
    monkeypatch.setattr(report, "ANALYSIS", analysis)


@pytest.mark.parametrize("name", ["bench-main-smoke", "bench-main-full", "bench-main-noapp"])
def test_main_report_matches(name: str, pinned_inputs: None) -> None:
    got = report.render_report(results(name), "benchmarks.png")
    assert got == expected(name), again(
        f"write this test's `got` to tests/app/data/{name}.md (the CLI would add the real bench/analysis.md)")


def test_main_report_command_line(pinned_inputs: None, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """`--report-only` writes the same report, and its chart next to it."""
    out = tmp_path / "benchmarks.md"
    assert bench.main(["--report-only", str(DATA / "bench-main-smoke.json"), "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == expected("bench-main-smoke")
    assert capsys.readouterr().out == expected("bench-main-smoke") + "\n"
    pytest.importorskip("matplotlib")
    assert (tmp_path / "benchmarks.png").stat().st_size > 0


def test_results_table_is_the_reports(pinned_inputs: None) -> None:
    """The table a run prints at its end is the report's results table."""
    data = results("bench-main-smoke")
    peers = report.measured_peers(data)
    table = report.render_table(summarize({p: data["results"][p] for p in peers}, data["conf"]), peers)
    assert table.startswith("| figure | (a) Flask-SocketIO, no auth |")
    assert "\n## Results\n\n" + table + "\n\n" in expected("bench-main-smoke")


def test_chat_report_matches(tmp_path: Path) -> None:
    out = tmp_path / "chat.md"
    assert chat.main(["--report-only", "--json", str(DATA / "bench-chat.json"), "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == expected("bench-chat"), again(
        ".venv/bin/python -m bench.chat --report-only --json tests/app/data/bench-chat.json "
        "--out tests/app/data/bench-chat.md")


def test_scale_report_matches(tmp_path: Path) -> None:
    out = tmp_path / "scale.md"
    assert scale.main(["--report-only", "--json", str(DATA / "bench-scale.json"), "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == expected("bench-scale"), again(
        ".venv/bin/python -m bench.scale --report-only --json tests/app/data/bench-scale.json "
        "--out tests/app/data/bench-scale.md")


@pytest.mark.parametrize(("peer", "app_spec"), [("flask-min", "bench.peers.flask_min.app:app"),
                                                 ("app-gevent", "bench.peers.app_wsgi:app")])
def test_servers_run_the_command_line_the_report_states(peer: str, app_spec: str, tmp_path: Path) -> None:
    """The report's "Servers:" line names the gunicorn flags; the servers run with exactly those."""
    srv = Server(peer, tmp_path, "secret")
    cmd = srv.cmd()
    worker = "gevent" if peer == "app-gevent" else "eventlet"
    assert Path(cmd[0]).name == "gunicorn"
    assert cmd[1:] == ["-k", worker, "-w", "1", "--no-control-socket", "--worker-connections", "20000",
                       "--log-level", "warning", "-b", f"127.0.0.1:{srv.port}", app_spec]
    assert "`taskset -c 0 gunicorn -k eventlet -w 1 --no-control-socket --worker-connections 20000 ...`" in expected(
        "bench-main-smoke")
