"""The command line as a user runs it: real subprocesses, real threads, real files.

Assertions are on what the run wrote and how it ended, never on how fast it was.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "data" / "tiny.yaml"


def run_cli(*args: str, cwd: Path = ROOT, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "run.py", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


def report_dir(stdout: str) -> Path:
    last = stdout.strip().splitlines()[-1]
    assert last.startswith("report folder: "), stdout
    return Path(last.removeprefix("report folder: "))


@pytest.mark.slow
def test_headless_run_prints_table_and_writes_report(tmp_path: Path) -> None:
    res = run_cli(str(TINY), "--headless", "--duration", "1", "--time-scale", "4", "--out", str(tmp_path))
    assert res.returncode == 0, res.stderr
    assert "Controllers (times in ms)" in res.stdout and "Sensors (ages in ms)" in res.stdout
    out = report_dir(res.stdout)
    report = json.loads((out / "report.json").read_text())
    assert report["run"]["end_reason"] == "completed"
    assert report["scenario"]["duration"] == 1.0 and report["scenario"]["time_scale"] == 4.0
    ctrl = report["controllers"][0]
    assert ctrl["cycles"] >= 15  # 20 releases in 1 s at 20 Hz; skips only if the host stalls
    for key in ("misses", "miss_rate", "overruns", "skipped_releases", "safety_stops", "response_time",
                "release_jitter", "causes"):
        assert key in ctrl
    kinds = {s["kind"] for s in report["sensors"]}
    assert kinds == {"lidar", "odometry", "imu", "bumper"}
    for s in report["sensors"]:
        assert s["produced"] > 0 and "age_at_use" in s and "queue" in s and "stale_uses" in s
    assert report["run"]["threads_not_stopped"] == []
    roles = {t["role"] for t in report["run"]["threads"]}
    assert roles == {"physics", "producer", "controller", "timeline", "monitor"}  # monitor: the host sampler
    rows = (out / "cycles.csv").read_text().splitlines()
    assert rows[0].startswith("robot,k,release_time") and len(rows) == ctrl["cycles"] + 1


@pytest.mark.slow
def test_overrides_and_seed(tmp_path: Path) -> None:
    res = run_cli(str(TINY), "--headless", "--duration", "0.5", "--seed", "42", "--time-scale", "5",
                  "--out", str(tmp_path))
    assert res.returncode == 0, res.stderr
    report = json.loads((report_dir(res.stdout) / "report.json").read_text())
    assert report["scenario"]["seed"] == 42 and report["scenario"]["duration"] == 0.5


@pytest.mark.slow
def test_help_explains_every_option() -> None:
    res = run_cli("--help")
    assert res.returncode == 0
    for opt in ("--duration", "--seed", "--time-scale", "--out", "--headless", "--schema", "--screenshot"):
        assert opt in res.stdout


@pytest.mark.slow
def test_schema_is_json_schema() -> None:
    res = run_cli("--schema")
    assert res.returncode == 0
    schema = json.loads(res.stdout)
    assert schema["type"] == "object" and "robots" in schema["properties"]


@pytest.mark.slow
@pytest.mark.parametrize("args, needle", [
    (["nope.yaml", "--headless"], "nope.yaml"),
    ([str(TINY), "--headless", "--duration", "-3"], "run.duration"),
    ([str(TINY), "--window", "big"], "--window"),
])
def test_bad_input_exits_2_without_traceback(args: list[str], needle: str) -> None:
    res = run_cli(*args)
    assert res.returncode == 2
    assert needle in res.stderr
    assert "Traceback" not in res.stderr + res.stdout


@pytest.mark.slow
@pytest.mark.parametrize("sig, reason, code", [
    (signal.SIGINT, "interrupted", 130),
    (signal.SIGTERM, "terminated", 130),
])
def test_signal_stops_every_thread_and_still_writes_report(tmp_path: Path, sig: int, reason: str,
                                                           code: int) -> None:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "run.py", str(TINY), "--headless", "--duration", "3600",
                             "--out", str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()  # printed once every thread has started
        assert first.startswith("running tiny"), first + proc.stderr.read()
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == code, stderr
    assert "Traceback" not in stderr
    report = json.loads((report_dir(stdout) / "report.json").read_text())
    assert report["run"]["end_reason"] == reason
    assert report["run"]["threads_not_stopped"] == []  # all joined within the 1 s bound
    assert not list(report_dir(stdout).glob(".*.tmp"))  # atomic writes leave no temp files


# ------------------------------------------------ one boundary: bad input is one line, exit 2 (issue 13)

@pytest.mark.parametrize("argv", [
    [str(TINY), "--headless", "--bogus"],
    [str(TINY), "--seed", "x" * 5000],
    [str(TINY), "--clock", "wall"],
    ["report"],
    ["report", "a", "b"],
    ["compare", "a"],
    ["sweep"],
    ["sweep", str(TINY), "--workers", "many"],
    [],
])
def test_option_errors_are_one_short_line_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    from sim.cli import main

    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: run.py") and err.count("\n") == 1 and len(err) < 400, err
    assert "--help" in err and "usage:" not in err


@pytest.mark.parametrize("argv", [["--help"], ["report", "--help"], ["compare", "--help"], ["sweep", "--help"]])
def test_help_still_prints_the_full_help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    from sim.cli import main

    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 0 and capsys.readouterr().out.startswith("usage: run.py")


@pytest.mark.slow
def test_out_that_is_a_file_or_under_dev_null_is_one_line_exit_2(tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("")
    for out, needle in ((afile, "exists and is not a folder"), ("/dev/null/x", "Not a directory")):
        res = run_cli(str(TINY), "--headless", "--duration", "0.2", "--clock", "virtual", "--out", str(out))
        assert res.returncode == 2 and needle in res.stderr and res.stderr.count("\n") == 1, res.stderr
        assert "Traceback" not in res.stderr and res.stdout == ""


def test_run_folder_stays_inside_out_whatever_the_name(tmp_path: Path) -> None:
    from sim.errors import UsageError
    from sim.runtime.run import run_folder

    made = run_folder(tmp_path / "runs", "ok-name", 7)
    assert made.parent == tmp_path / "runs" and made.name.startswith("ok-name-") and made.is_dir()
    again = run_folder(tmp_path / "runs", "ok-name", 7)  # same second: a fresh folder, not the same
    assert again != made and again.is_dir()
    for name in ("../../x", f"{tmp_path}/x", "a/b", "x/../../y"):  # defence in depth: the loader refuses them
        with pytest.raises(UsageError, match="would not be directly inside --out"):
            run_folder(tmp_path / "runs", name, 7)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs"]


def test_an_os_error_making_the_run_folder_is_a_usage_error(tmp_path: Path) -> None:
    from sim.errors import UsageError
    from sim.runtime.run import run_folder

    (tmp_path / "f").write_text("")
    with pytest.raises(UsageError, match=r"cannot create the run folder .*Not a directory"):
        run_folder(tmp_path / "f" / "deeper", "x", 1)


def test_an_unexpected_exception_is_an_internal_error_exit_1_with_the_traceback_saved(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from sim import cli

    def bug(args: object) -> int:
        raise RuntimeError("a bug\nover two lines")

    monkeypatch.setattr(cli, "_run", bug)
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    assert cli.main([str(TINY)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("internal error (a bug in the simulator, not in your input): RuntimeError: a bug over")
    assert err.count("\n") == 1 and "Traceback" not in err
    saved = Path(err.strip().rsplit("traceback in ", 1)[1])
    assert saved.parent == tmp_path and "Traceback" in saved.read_text() and "a bug" in saved.read_text()


@pytest.mark.parametrize(("run", "breaches", "code"), [
    ({"end_reason": "completed", "failures": [], "threads_not_stopped": []}, [], 0),
    ({"end_reason": "completed", "failures": [], "threads_not_stopped": []}, ["r1: miss rate"], 1),
    ({"end_reason": "interrupted", "failures": [], "threads_not_stopped": []}, ["r1: miss rate"], 130),
    ({"end_reason": "terminated", "failures": [], "threads_not_stopped": []}, [], 130),
    ({"end_reason": "failed", "failures": [{"fatal": True}], "threads_not_stopped": []}, [], 1),
    ({"end_reason": "completed", "failures": [{"fatal": False}], "threads_not_stopped": []}, [], 0),
    ({"end_reason": "interrupted", "failures": [], "threads_not_stopped": ["r1-controller"]}, [], 1),
])
def test_report_exit_status_follows_the_runs_own_order(run: dict, breaches: list[str], code: int) -> None:
    from sim.cli import report_exit_status

    assert report_exit_status({"run": run, "expect": {"checked": True, "breaches": breaches}}) == code


# ------------------------------------------------ subcommands: one table (sim.cli.SUBCOMMANDS), --version everywhere

def _hello(argv: list[str]) -> int:
    """A subcommand registered by a test."""
    print("hello", *argv)
    return 3


def test_help_lists_every_registered_subcommand_and_a_new_one_by_registering_it(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from sim import cli

    assert [c.name for c in cli.SUBCOMMANDS][:4] == ["report", "compare", "sweep", "twin"]
    extra = cli.Subcommand("hello", "WHO", "say hello (a test's own subcommand)", "tests.test_cli:_hello")
    monkeypatch.setattr(cli, "SUBCOMMANDS", (*cli.SUBCOMMANDS, extra))
    with pytest.raises(SystemExit) as info:
        cli.main(["--help"])
    out = capsys.readouterr().out
    assert info.value.code == 0
    usage = out.split("\n\n")[0]
    for c in cli.SUBCOMMANDS:
        assert c.name in usage and f"  run.py {c.name} {c.args.split()[0]}" in out, c.name
    assert "run.py hello WHO: say hello (a test's own subcommand)" in out
    assert cli.main(["hello", "world"]) == 3 and capsys.readouterr().out == "hello world\n"


@pytest.mark.parametrize("name", ["", "report", "compare", "sweep", "twin"])
def test_run_py_and_every_subcommand_print_the_version(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    from sim import __version__
    from sim.cli import SUBCOMMANDS, main

    assert name == "" or name in {c.name for c in SUBCOMMANDS}
    with pytest.raises(SystemExit) as info:
        main([name, "--version"] if name else ["--version"])
    assert info.value.code == 0 and capsys.readouterr().out == f"fleet-timing-sim {__version__}\n"


def test_every_registered_subcommand_names_a_function_that_exists() -> None:
    from sim.cli import SUBCOMMANDS

    for c in SUBCOMMANDS:
        assert callable(c.main()), c.entry


def test_a_ctrl_c_an_extension_rewraps_is_still_an_interruption(monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """Seen in CI: a SIGINT while pydantic-core built a model's validator at import came out as a
    ``SchemaError ... KeyboardInterrupt:`` and was reported as an internal error (exit 1), not 130."""
    import signal

    from sim import cli
    from sim.common import interrupt

    def dispatch(argv: list[str]) -> int:
        try:
            interrupt._handle(signal.SIGINT, None)  # what the signal does, between two bytecodes
        except KeyboardInterrupt as exc:
            raise RuntimeError('Error building "literal" validator:\n  KeyboardInterrupt: ') from exc
        return 0

    monkeypatch.setattr(cli, "_dispatch", dispatch)
    assert cli.main(["scenario.yaml"]) == 130
    err = capsys.readouterr().err
    assert err.strip() == "interrupted (SIGINT) before the run started: nothing was written"
    monkeypatch.setattr(cli, "_dispatch", lambda argv: (_ for _ in ()).throw(RuntimeError("KeyboardInterrupt")))
    assert cli.main(["scenario.yaml"]) == 1  # no signal came: a bug's error that merely names one
    assert "internal error" in capsys.readouterr().err
