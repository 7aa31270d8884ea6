"""Long commands draw a progress line on standard error when it is a terminal (a real
pseudo-terminal here), and write nothing of it anywhere else."""

from __future__ import annotations

import io
import os
import pty
import select
import subprocess
import sys
from pathlib import Path

from registry_node.cli._progress import ProgressLine, progress_line
from registry_node.core.yamlsafe import dump_yaml
from registry_node.services import progress as phases
from registry_node.services.progress import ignore
from tests.helpers import issuer

ROOT = Path(__file__).resolve().parents[1]
BOUND = 60  # seconds a command may take


def _workdir(tmp_path: Path, count: int) -> Path:
    (tmp_path / "node.yaml").write_text(
        "node_id: https://registry.ohio.example\njurisdiction: US-OH\nname: Ohio\n"
        "data_dir: data\nlog_format: json\n"
    )
    doc = {"jurisdiction": "US-OH", "issuers": [issuer(n) for n in range(1, count + 1)]}
    (tmp_path / "more.yaml").write_text(dump_yaml(doc))
    return tmp_path


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "registry_node", *args]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "TERM": "xterm"}


def _run_with_terminal_stderr(workdir: Path, *args: str) -> tuple[int, str, str]:
    """Run a command whose standard error is a pseudo-terminal; return its exit status, its
    standard output and what it wrote to the terminal."""
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(
            _command(*args),
            cwd=workdir,
            env=_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=slave,
        )
    finally:
        os.close(slave)
    seen = b""
    try:
        while True:
            ready, _, _ = select.select([master], [], [], BOUND)
            assert ready, f"no output within {BOUND}s; so far: {seen!r}"
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the command exited and closed the terminal
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(master)
    assert proc.stdout is not None
    out = proc.stdout.read().decode()
    proc.stdout.close()
    return proc.wait(timeout=BOUND), out, seen.decode(errors="replace")


def test_an_import_draws_its_progress_at_a_terminal(tmp_path: Path) -> None:
    workdir = _workdir(tmp_path, 40)
    status, out, terminal = _run_with_terminal_stderr(workdir, "issuers", "import", "more.yaml")
    assert status == 0, terminal
    assert out.strip() == "more.yaml: 40 created, 0 updated, 0 unchanged"
    assert "reading more.yaml: 100%" in terminal
    assert "validating more.yaml: 40 of 40 issuers (100%)" in terminal
    assert "importing more.yaml: 20 of 40 issuers (50%)" in terminal
    assert "importing more.yaml: 40 of 40 issuers (100%)" in terminal
    assert "\r\x1b[K" in terminal  # redrawn in place, and cleared at the end
    assert terminal.rstrip("\r\n").endswith("\r\x1b[K")


def test_an_import_writes_no_progress_when_stderr_is_not_a_terminal(tmp_path: Path) -> None:
    workdir = _workdir(tmp_path, 40)
    done = subprocess.run(
        _command("issuers", "import", "more.yaml"),
        cwd=workdir,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=BOUND,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "more.yaml: 40 created, 0 updated, 0 unchanged"
    assert "importing" not in done.stderr
    assert "\r" not in done.stderr


def test_the_line_is_redrawn_only_when_the_percentage_changes() -> None:
    stream = io.StringIO()
    line = ProgressLine(stream, "peers")
    for done in range(1001):
        line(phases.IMPORTING, done, 1000)
    line(phases.SYNCING, 0, 0)
    line.close()
    text = stream.getvalue()
    assert text.count("\r\x1b[K") == 101 + 1 + 1  # 0..100%, the next phase, the clearing
    assert "importing peers: 1,000 of 1,000 issuers (100%)" in text
    assert "syncing peers: 0 of 0 peers (100%)" in text


def test_no_terminal_no_line() -> None:
    stream = io.StringIO()
    with progress_line("x", stream, isatty=lambda: False) as report:
        assert report is ignore
        report(phases.IMPORTING, 1, 2)
    assert stream.getvalue() == ""
    with progress_line("x", stream, isatty=lambda: True) as report:
        report(phases.IMPORTING, 1, 2)
    assert stream.getvalue() == "\r\x1b[Kimporting x: 1 of 2 issuers (50%)\r\x1b[K"
