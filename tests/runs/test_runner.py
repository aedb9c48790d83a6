"""Writing runs (contrastkit.runs.runner): fresh directories, the metrics file, figures; no training here."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from contrastkit import runs
from contrastkit.runs import runner


def test_new_and_fresh_directories(tmp_path):
    first = runs.new_run_dir(tmp_path, "supcon")
    second = runs.new_run_dir(tmp_path, "supcon")
    assert first != second and first.is_dir() and second.is_dir()
    assert first.name.startswith("supcon-")
    assert runs.ensure_fresh_dir(first) == first  # empty: fine
    (first / "keep.txt").write_text("x")
    with pytest.raises(runs.RunDirectoryError, match="never overwritten"):
        runs.ensure_fresh_dir(first)
    assert (first / "keep.txt").read_text() == "x"


def test_metrics_writer_rewrites_whole_file(tmp_path):
    writer = runs.MetricsWriter(tmp_path)
    writer(1, {"epoch": [1], "loss": [1.0]})
    writer(2, {"epoch": [1, 2], "loss": [1.0, 0.5]})
    lines = (tmp_path / runs.HISTORY_FILE).read_text().splitlines()
    assert [json.loads(line)["loss"] for line in lines] == [1.0, 0.5]
    assert list(tmp_path.iterdir()) == [tmp_path / runs.HISTORY_FILE]  # no temporary file left behind


def test_ensure_fresh_dir_messages(tmp_path):
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "x").write_text("x")
    with pytest.raises(runs.RunDirectoryError, match="Pass --resume to continue the run in it"):
        runs.ensure_fresh_dir(taken)
    with pytest.raises(runs.RunDirectoryError, match="not empty") as err:
        runs.ensure_fresh_dir(taken, resumable=False)  # a comparison cannot be resumed as a whole
    assert "--resume" not in str(err.value) and "Choose another --out" in str(err.value)
    (tmp_path / "file").write_text("")
    with pytest.raises(runs.RunDirectoryError, match="not a directory"):
        runs.ensure_fresh_dir(tmp_path / "file")
    assert runs.ensure_fresh_dir(tmp_path / "new" / "deep") == tmp_path / "new" / "deep"
    assert (tmp_path / "new" / "deep").is_dir()


def test_save_figure_writes_a_png_and_closes_it(tmp_path):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    runs.save_figure(ax, tmp_path / "line.png")
    assert (tmp_path / "line.png").read_bytes().startswith(b"\x89PNG")
    assert not plt.fignum_exists(fig.number)
    assert [p.name for p in tmp_path.iterdir()] == ["line.png"]


def test_the_runs_face_offers_the_runner():
    for name in ("train_run", "evaluate_run", "compare", "ensure_fresh_dir", "new_run_dir", "MetricsWriter"):
        assert getattr(runs, name) is getattr(runner, name), name
    assert json.loads(json.dumps(runs.library_versions()))["contrastkit"] == runs.library_versions()["contrastkit"]


# Regressions found by an audit of the kit: each was a traceback or a wrong value.


def test_a_locked_run_directory_refuses_a_second_writer(tmp_path) -> None:
    from contrastkit.runs.runner import locked

    run_dir = tmp_path / "run"
    with locked(run_dir):
        probe = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from pathlib import Path; from contrastkit.runs.runner import locked\n"
                "try:\n    with locked(Path(sys.argv[1])): pass\nexcept Exception as e: print(type(e).__name__, e)",
                str(run_dir),
            ],
            capture_output=True,
            text=True,
        )
        assert "RunDirectoryError" in probe.stdout and "another contrastkit process" in probe.stdout
    with locked(run_dir):  # released: a later writer gets it
        pass
    assert not (run_dir / ".lock").exists()
