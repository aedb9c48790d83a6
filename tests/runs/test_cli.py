"""``python -m contrastkit`` end to end on a few hundred images: train, list, evaluate, compare, resume, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contrastkit import runs
from contrastkit.evaluate import METRIC_KEYS
from contrastkit.runs import cli, runner
from contrastkit.train import make_config

TINY = ["--limit-train", "300", "--limit-test", "100", "--data", "sample"]
FAST = [*TINY, "--batch-size", "64", "--quiet"]
EVAL_KEYS = set(METRIC_KEYS)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny siamese run (2 epochs, TensorBoard on, figures off), shared by the tests that read it."""
    root = tmp_path_factory.mktemp("runs")
    out = root / "siamese-tiny"
    code = cli.main(["train", "--method", "siamese", "--epochs", "2", *FAST, "--out", str(out), "--tensorboard",
                     "--no-figures"])  # fmt: skip
    assert code == 0
    return out


def test_train_writes_a_complete_run_directory(trained):
    names = {p.name for p in trained.iterdir()}
    assert {"config.json", "metrics.jsonl", "metrics.json", "model.pt", "embeddings.npz", "checkpoint.pt"} <= names
    config = json.loads((trained / "config.json").read_text())
    assert config["method"] == "siamese" and config["config"]["epochs"] == 2 and config["config"]["batch_size"] == 64
    assert config["data"]["source"] == "sample" and (config["data"]["n_train"], config["data"]["n_test"]) == (300, 100)
    assert config["device"] == "cpu" or config["device"].startswith(("cuda", "mps"))
    assert set(config["versions"]) == {"contrastkit", "torch", "torchvision", "numpy", "python"}
    lines = (trained / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2]
    metrics = json.loads((trained / "metrics.json").read_text())
    assert EVAL_KEYS <= set(metrics) and metrics["train_time_s"] > 0
    run = runs.load(trained)
    assert run.embeddings.shape == (100, 64) and run.labels.shape == (100,)
    assert run.model()(__import__("torch").zeros(2, 1, 28, 28)).shape == (2, 64)


def test_tensorboard_holds_scalars_and_the_projector_entry(trained):
    board = trained / "tensorboard"
    assert list(board.glob("events.out.tfevents.*"))
    assert "test_embeddings" in (board / "projector_config.pbtxt").read_text()
    (tensors,) = board.rglob("tensors.tsv")
    rows = tensors.read_text().splitlines()
    assert len(rows) == 100 and len(rows[0].split("\t")) == 64
    assert len((tensors.parent / "metadata.tsv").read_text().splitlines()) == 100
    assert (tensors.parent / "sprite.png").stat().st_size > 0

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(board))
    events.Reload()
    assert {"train/loss", "train/knn_accuracy"} <= set(events.Tags()["scalars"])


def test_list_and_evaluate(trained, capsys):
    assert cli.main(["list", "--root", str(trained.parent)]) == 0
    out = capsys.readouterr().out
    assert "siamese-tiny" in out and "siamese" in out and "sample 300/100" in out and "2/2" in out

    before = json.loads((trained / "metrics.json").read_text())
    assert cli.main(["evaluate", str(trained)]) == 0
    out = capsys.readouterr().out
    assert "knn_accuracy" in out and "wrote" in out
    after = json.loads((trained / "metrics.json").read_text())
    assert after["train_time_s"] == before["train_time_s"]
    for key in EVAL_KEYS:
        assert after[key] == pytest.approx(before[key], abs=1e-6), key


def test_entry_point_in_a_subprocess(trained):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    listing = subprocess.run(
        [sys.executable, "-m", "contrastkit", "list", "--root", str(trained.parent)],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert listing.returncode == 0, listing.stderr
    assert "siamese-tiny" in listing.stdout and "kNN" in listing.stdout


def test_resume_after_interruption_matches_an_uninterrupted_run(trained, tmp_path, monkeypatch, capsys):
    """Ctrl-C after epoch 1 of 2, then --resume: the same history and metrics as the straight run."""
    args = ["train", "--method", "siamese", "--epochs", "2", *FAST, "--no-figures"]
    real_train = runner.train  # the name train_run calls

    def interrupt_after_first_epoch(epoch, history):
        if epoch == 1:
            raise KeyboardInterrupt

    def train_with_ctrl_c(*a, callbacks=(), **kw):
        return real_train(*a, callbacks=(*callbacks, interrupt_after_first_epoch), **kw)

    monkeypatch.setattr(runner, "train", train_with_ctrl_c)
    broken = tmp_path / "interrupted"
    assert cli.main([*args, "--out", str(broken)]) == 130
    err = capsys.readouterr().err
    assert "interrupted after 1 of 2 epoch(s)" in err and f"--out {broken} --resume" in err
    assert (broken / "checkpoint.pt").is_file() and not (broken / "model.pt").exists()
    assert len((broken / "metrics.jsonl").read_text().splitlines()) == 1
    assert not [p for p in broken.iterdir() if p.name.endswith(".tmp")]

    monkeypatch.setattr(runner, "train", real_train)
    assert cli.main(["train", "--out", str(broken), "--resume", "--quiet", "--no-figures"]) == 0
    straight = runs.load(trained)
    resumed = runs.load(broken)
    assert resumed.history["epoch"] == [1, 2]
    assert resumed.history["loss"] == pytest.approx(straight.history["loss"], rel=1e-6)
    for key in EVAL_KEYS:
        assert resumed.metrics[key] == pytest.approx(straight.metrics[key], abs=1e-6), key


def test_compare_quick_writes_the_report(tmp_path, monkeypatch, capsys):
    out = tmp_path / "cmp"
    monkeypatch.chdir(tmp_path)  # the projection cache goes under the working directory
    code = cli.main(["compare", "--quick", "--methods", "siamese", *TINY, "--epochs", "1", "--out", "cmp", "--quiet"])
    assert code == 0
    out = tmp_path / "cmp"
    printed = capsys.readouterr().out
    assert "raw-pixel baseline" in printed and "[1/1] siamese" in printed and "report.md" in printed
    for name in ("report.md", "leaderboard.csv", "umap_grid.png", "compare.json"):
        assert (out / name).is_file(), name
    assert (out / "siamese" / "metrics.json").is_file()
    assert (out / "siamese" / "history.png").stat().st_size > 0 and (out / "siamese" / "umap.png").stat().st_size > 0
    assert runs.load(out / "siamese").points.shape == (100, 2)
    csv_rows = (out / "leaderboard.csv").read_text().splitlines()
    assert csv_rows[0].startswith("method,knn_accuracy,linear_probe_accuracy")
    assert [row.split(",")[0] for row in csv_rows[1:]] == ["raw pixels", "siamese"]
    report = (out / "report.md").read_text()
    assert "| raw pixels |" in report and "| siamese |" in report and "![UMAP" in report and "quick mode" in report
    assert "(siamese/history.png)" in report
    assert [r.method for r in runs.list_runs(tmp_path)] == ["siamese"]


# ----------------------------------------------------------------------------------------------
# Bad input: a message on stderr, a non-zero exit, nothing written
# ----------------------------------------------------------------------------------------------


def _fails(argv, capsys, code, *needles):
    assert cli.main(argv) == code
    err = capsys.readouterr().err
    for needle in needles:
        assert needle in err, (needle, err)
    assert "Traceback" not in err


def test_usage_errors(tmp_path, capsys):
    _fails(["train", "--method", "byol"], capsys, 2, "invalid choice", "siamese", "triplet", "simclr", "supcon")
    _fails(["train", "--method", "siamese", "--temperature", "0.5"], capsys, 2, "--temperature does not apply")
    _fails(
        ["train", "--method", "simclr", "--set", "bogus=1"], capsys, 2, "--set: the simclr recipe has no field bogus"
    )
    _fails(["train"], capsys, 2, "--method is required")
    _fails(["train", "--resume"], capsys, 2, "--resume needs --out")
    _fails(["compare", "--methods", "byol"], capsys, 2, "invalid choice")
    _fails([], capsys, 2, "required")


def test_invalid_recipe_values(tmp_path, capsys):
    out = tmp_path / "never"
    _fails(["train", "--method", "supcon", "--epochs", "-3", "--out", str(out)], capsys, 1, "epochs must be")
    _fails(
        ["train", "--method", "simclr", "--temperature", "0", "--out", str(out)], capsys, 1, "temperature must be > 0"
    )
    assert not out.exists()


@settings(max_examples=10, deadline=None)
@given(
    option=st.sampled_from(["--epochs", "--temperature", "--batch-size", "--lr"]),
    value=st.one_of(st.integers(-1000, 0), st.floats(-1e6, 0.0, allow_nan=False)),
)
def test_fuzzed_nonpositive_values_are_refused(option, value):
    if option in ("--epochs", "--batch-size"):
        value = int(value)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        assert cli.main(["train", "--method", "simclr", f"{option}={value}", "--out", str(out)]) == 1
        assert not out.exists()


def test_missing_and_corrupt_run_directories(tmp_path, capsys):
    _fails(["evaluate", str(tmp_path / "nowhere")], capsys, 1, "does not exist")
    (tmp_path / "empty").mkdir()
    _fails(["evaluate", str(tmp_path / "empty")], capsys, 1, "no config.json")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_text('{"method": ')
    _fails(["evaluate", str(bad)], capsys, 1, "not valid JSON")
    _fails(["train", "--out", str(bad), "--resume"], capsys, 1, "not valid JSON")
    half = tmp_path / "half"
    half.mkdir()
    runs.write_config(half, make_config("supcon"), {"source": "sample"}, device="cpu", tensorboard=False)
    _fails(["evaluate", str(half)], capsys, 1, "model.pt is missing")
    _fails(["train", "--out", str(half), "--resume", "--method", "siamese"], capsys, 1, "holds a supcon run")
    _fails(["train", "--out", str(half), "--resume", "--epochs", "99"], capsys, 1, "differs from the run's epochs")


def test_never_overwrites_a_run(tmp_path, capsys):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "config.json").write_text("{}")
    _fails(["train", "--method", "supcon", "--out", str(out)], capsys, 1, "not empty", "--resume")
    assert cli.main(["compare", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "not empty" in err and "Traceback" not in err
    assert "--resume" not in err  # a comparison is not resumed as a whole: only "choose another --out"
    assert "Choose another --out" in err
    assert [p.name for p in out.iterdir()] == ["config.json"] and (out / "config.json").read_text() == "{}"


REPO = Path(__file__).resolve().parents[2]


# Regressions found by an audit of the kit: each was a traceback or a wrong value.


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "contrastkit", *args], capture_output=True, text=True, cwd=cwd)


@pytest.mark.parametrize("option", [["--limit-test", "10"], ["--limit-train", "2"]])
def test_too_small_limits_are_refused_before_training(tmp_path, option) -> None:
    out = _cli("train", "--method", "supcon", "--epochs", "1", *option, "--out", str(tmp_path / "r"), cwd=REPO)
    assert out.returncode == 1 and "at least 20" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "r" / "checkpoint.pt").exists()


def test_an_out_folder_inside_a_file_is_a_message(tmp_path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    out = _cli("train", "--method", "supcon", "--epochs", "1", "--out", str(afile / "sub"), cwd=REPO)
    assert out.returncode == 1 and "error" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.parametrize("point", ["atomic_torch_save", "evaluate_embeddings", "save_figure"])
def test_ctrl_c_after_training_resumes_to_the_same_metrics(trained, tmp_path, monkeypatch, point):
    """Ctrl-C while model.pt, the evaluation or the figures are written: --resume ends where a straight run ends."""

    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    real = getattr(runner, point)
    monkeypatch.setattr(runner, point, ctrl_c)
    out = tmp_path / "run"
    assert cli.main(["train", "--method", "siamese", "--epochs", "2", *FAST, "--out", str(out)]) == 130
    assert not (out / "metrics.json").exists() and not (out / ".lock").exists()
    monkeypatch.setattr(runner, point, real)
    assert cli.main(["train", "--resume", "--out", str(out), "--quiet"]) == 0
    got = json.loads((out / "metrics.json").read_text())
    want = json.loads((trained / "metrics.json").read_text())
    assert {key: got[key] for key in METRIC_KEYS} == {key: want[key] for key in METRIC_KEYS}
    assert (out / "umap.png").is_file() and (out / "model.pt").is_file()
