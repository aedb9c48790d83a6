"""Run directories (contrastkit.runs.rundir): reading, writing config.json, refusing bad ones; no training."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import contrastkit as ck
from contrastkit import runs
from contrastkit.models import ConvEncoder
from contrastkit.runs import RunDirectoryError
from contrastkit.train import SupConConfig


def _fake_run(path, *, embedding_dim=8, with_model=True):
    """A run directory written by hand: config.json, metrics.jsonl, metrics.json, model.pt, embeddings.npz."""
    path.mkdir(parents=True)
    config = SupConConfig(epochs=2, embedding_dim=embedding_dim)
    record = {"source": "sample", "n_train": 300, "n_test": 100, "limit_train": 300, "limit_test": 100}
    runs.write_config(path, config, record, device="cpu", tensorboard=False)
    history = {"epoch": [1, 2], "loss": [2.0, 1.5], "wall_time": [1.0, 2.5], "knn_accuracy": [0.5, 0.75]}
    runs.MetricsWriter(path)(2, history)
    (path / runs.METRICS_FILE).write_text(json.dumps({"knn_accuracy": 0.8, "train_time_s": 3.5}))
    encoder = ConvEncoder(embedding_dim=embedding_dim)
    if with_model:
        torch.save(encoder.state_dict(), path / runs.MODEL_FILE)
    emb = np.arange(12, dtype=np.float32).reshape(3, 4)
    np.savez(path / runs.EMBEDDINGS_FILE, embeddings=emb, labels=np.array([0, 1, 2]))
    return encoder


def test_load_reads_every_file(tmp_path):
    encoder = _fake_run(tmp_path / "run")
    run = runs.load(tmp_path / "run")
    assert run.method == "supcon"
    assert run.config["config"]["embedding_dim"] == 8
    assert set(run.config["versions"]) == {"contrastkit", "torch", "torchvision", "numpy", "python"}
    assert run.history["loss"] == [2.0, 1.5]
    assert run.metrics["knn_accuracy"] == 0.8
    assert run.embeddings.shape == (3, 4) and run.labels.tolist() == [0, 1, 2]
    assert run.points is None and run.finished
    assert run.recipe() == SupConConfig(epochs=2, embedding_dim=8)
    model = run.model()
    assert not model.training
    for name, value in encoder.state_dict().items():
        assert torch.equal(model.state_dict()[name], value), name


def test_model_missing_or_mismatched_weights(tmp_path):
    _fake_run(tmp_path / "run", with_model=False)
    with pytest.raises(runs.RunDirectoryError, match=r"model\.pt is missing.*--resume"):
        runs.load(tmp_path / "run").model()
    torch.save(ConvEncoder(embedding_dim=3).state_dict(), tmp_path / "run" / runs.MODEL_FILE)
    with pytest.raises(runs.RunDirectoryError, match="does not hold the weights"):
        runs.load(tmp_path / "run").model()
    (tmp_path / "run" / runs.MODEL_FILE).write_bytes(b"not a checkpoint")
    with pytest.raises(runs.RunDirectoryError, match="cannot be read"):
        runs.load(tmp_path / "run").model()


def test_load_refuses_missing_and_corrupt_directories(tmp_path):
    with pytest.raises(runs.RunDirectoryError, match="does not exist"):
        runs.load(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(runs.RunDirectoryError, match=r"no config\.json"):
        runs.load(tmp_path / "empty")
    _fake_run(tmp_path / "run")
    (tmp_path / "run" / runs.HISTORY_FILE).write_text('{"epoch": 1}\n{"epoch": 2, "lo')
    with pytest.raises(runs.RunDirectoryError, match="line 2 is not valid JSON"):
        runs.load(tmp_path / "run")
    (tmp_path / "run" / runs.HISTORY_FILE).write_text("")
    (tmp_path / "run" / runs.EMBEDDINGS_FILE).write_bytes(b"garbage")
    with pytest.raises(runs.RunDirectoryError, match=r"embeddings\.npz cannot be read"):
        runs.load(tmp_path / "run")
    (tmp_path / "run" / runs.CONFIG_FILE).write_text('{"method": "supcon"')
    with pytest.raises(runs.RunDirectoryError, match="not valid JSON"):
        runs.load(tmp_path / "run")
    (tmp_path / "run" / runs.CONFIG_FILE).write_text('{"seed": 0}')
    with pytest.raises(runs.RunDirectoryError, match="lacks the 'method'"):
        runs.load(tmp_path / "run")


def test_list_runs_finds_nested_runs_and_skips_corrupt_ones(tmp_path):
    _fake_run(tmp_path / "a")
    _fake_run(tmp_path / "compare-1" / "supcon")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / runs.CONFIG_FILE).write_text("{")
    found = runs.list_runs(tmp_path)
    assert sorted(str(r.path.relative_to(tmp_path)) for r in found) == ["a", "compare-1/supcon"]
    assert runs.list_runs(tmp_path / "absent") == []


def test_config_round_trip_through_config_json(tmp_path):
    from contrastkit.train import CONFIGS

    for method, cls in CONFIGS.items():
        config = cls(epochs=3)
        runs.write_config(tmp_path, config, {"source": "sample"}, device="cpu", tensorboard=False)
        record = json.loads((tmp_path / runs.CONFIG_FILE).read_text())
        assert record["method"] == method and record["seed"] == config.seed
        assert runs.config_from_record(record) == config


def test_prepare_data_subset_is_reproducible():
    data, record = runs.prepare_data("sample", limit_train=50, limit_test=20)
    assert (record["n_train"], record["n_test"], record["source"]) == (50, 20, "sample")
    again = runs.data_from_record(json.loads(json.dumps(record)))
    assert torch.equal(again.x_train, data.x_train) and torch.equal(again.y_test, data.y_test)


history_values = st.floats(allow_nan=False, allow_infinity=False, width=32)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 6).flatmap(lambda n: st.tuples(st.lists(history_values, min_size=n, max_size=n), st.just(n))))
def test_history_jsonl_round_trip(values_and_n):
    values, n = values_and_n
    history = {"epoch": list(range(1, n + 1)), "loss": values, "wall_time": [0.5] * n}
    text = runs.history_to_jsonl(history)
    assert text.count("\n") == n
    back = runs.history_from_jsonl(text)
    assert back == (history if n else {})


def test_history_jsonl_keeps_nan():
    back = runs.history_from_jsonl(runs.history_to_jsonl({"epoch": [1], "knn_accuracy": [float("nan")]}))
    assert math.isnan(back["knn_accuracy"][0])


def test_runs_re_exports_the_run_directory_module():
    """Reading a run and config.json live in contrastkit.runs.rundir; ck.runs offers every name."""
    from contrastkit.runs import rundir

    for name in runs.__all__:
        assert hasattr(runs, name), name
    for name in rundir.__all__:
        assert getattr(runs, name) is getattr(rundir, name), name


# Regressions found by an audit of the kit: each was a traceback or a wrong value.


def _fake_record_run(path: Path, **overrides) -> Path:
    path.mkdir(parents=True)
    record = {"method": "supcon", "config": {"epochs": 1}, "data": {"source": "sample"}, "created": "2026"}
    record.update(overrides)
    (path / "config.json").write_text(json.dumps(record))
    return path


def test_list_skips_runs_with_non_utf8_or_malformed_files(tmp_path) -> None:
    good = _fake_record_run(tmp_path / "good")
    latin = _fake_record_run(tmp_path / "latin")
    (latin / "config.json").write_bytes('{"method": "supcon", "x": "é"}'.encode("latin-1"))
    bad_history = _fake_record_run(tmp_path / "history")
    (bad_history / "metrics.jsonl").write_bytes(b"\xff\xfe\x00")
    _fake_record_run(tmp_path / "listmetrics")
    (tmp_path / "listmetrics" / "metrics.json").write_text("[1, 2]")
    _fake_record_run(tmp_path / "baddata", data="oops")
    assert [run.path for run in ck.runs.list_runs(tmp_path)] == [good]
    for name, what in (("latin", "UTF-8"), ("history", "UTF-8"), ("listmetrics", "JSON object"), ("baddata", "data")):
        with pytest.raises(RunDirectoryError, match=what):
            ck.runs.load(tmp_path / name)


def test_a_null_embedding_dim_is_a_run_directory_error(tmp_path) -> None:
    run = _fake_record_run(tmp_path / "run", config={"embedding_dim": None})
    (run / "model.pt").write_bytes(b"")
    with pytest.raises(RunDirectoryError, match="invalid supcon recipe"):
        ck.runs.load(run).model()
