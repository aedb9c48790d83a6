"""Metrics as text (contrastkit.runs.report): number formats, tables, the Leaderboard, the comparison report."""

from __future__ import annotations

import pytest

from contrastkit import runs
from contrastkit.runs import report
from contrastkit.runs.report import CSV_KEYS, Leaderboard, comparison_report


def test_report_formats_metrics_and_tables():
    """The number formats and tables the commands print (contrastkit.runs.report, no files touched)."""
    assert report.format_metric("knn_accuracy", 0.98765) == "98.77%"
    assert report.format_metric("train_time_s", 59.6) == "60 s"
    assert report.format_metric("train_time_s", 600.0) == "10.0 min"
    assert report.format_metric("uniformity", -1.23456) == "-1.235"
    assert report.format_metric("epochs", None) == "-"
    assert report.metrics_line({"knn_accuracy": 0.5, "train_time_s": 3.0}) == "kNN 50.00%, trained in 3 s"
    assert report.text_table(["a", "bb"], [["xyz", "1"]]) == "a    bb\n---  --\nxyz  1"
    assert report.markdown_table(["a", "b"], [["1", "2"]]) == "| a | b |\n| --- | --- |\n| 1 | 2 |"
    board = Leaderboard(baseline={"knn_accuracy": 0.9, "train_time_s": None})
    assert board.csv().splitlines()[1].startswith("raw pixels,0.9,")


PIXELS = {
    "knn_accuracy": 0.958,
    "linear_probe_accuracy": 0.9125,
    "precision_at_1": 0.95,
    "map_at_r": 0.5,
    "r_precision": 0.55,
    "verification_auc": 0.9,
    "verification_eer": 0.18,
    "alignment": 0.8,
    "uniformity": -1.0,
}


def _board() -> Leaderboard:
    board = Leaderboard(baseline=PIXELS)
    board.add("siamese", {**PIXELS, "knn_accuracy": 0.981, "train_time_s": 59.6, "epochs": 5})
    board.add("simclr", {**PIXELS, "knn_accuracy": 0.975, "linear_probe_accuracy": 0.98, "train_time_s": 200.0})
    board.add("supcon", {**PIXELS, "knn_accuracy": 0.9925, "train_time_s": 150.0, "epochs": 6})
    return board


def test_leaderboard_rows_best_and_cells():
    board = _board()
    assert [name for name, _, _ in board.rows] == ["raw pixels", "siamese", "simclr", "supcon"]
    assert board.rows[0] == ("raw pixels", PIXELS, None)
    assert [name for name, _, _ in board.entries] == ["siamese", "simclr", "supcon"]
    name, metrics = board.best()
    assert name == "supcon" and metrics["knn_accuracy"] == 0.9925  # the baseline never counts as best
    assert board.header() == ["method", *(title for _, title, _ in report.COLUMNS)]
    cells = board.cells()
    assert cells[0][:2] == ["raw pixels", "95.80%"] and cells[0][-1] == "-"  # no training time for pixels
    assert cells[1] == ["siamese", "98.10%", "91.25%", "95.00%", "50.00%", "0.900", "0.800", "-1.000", "60 s"]
    assert board.text() == report.text_table(board.header(), cells)
    metrics = {"knn_accuracy": 0.5}
    board.add("late", metrics)
    metrics["knn_accuracy"] = 1.0  # the board keeps a copy
    assert board.entries[-1][1] == {"knn_accuracy": 0.5}


def test_leaderboard_markdown_and_notebook_display():
    board = _board()
    lines = board.markdown().splitlines()
    assert (
        lines[0] == "| method | kNN | linear probe | P@1 | MAP@R | verif. AUC | alignment | uniformity | train time |"
    )
    assert lines[1] == "|" + "|".join(" --- " for _ in range(9)) + "|"
    assert lines[2].startswith("| raw pixels | 95.80% |") and lines[4].startswith("| simclr | 97.50% | 98.00% |")
    assert len(lines) == 2 + 4
    assert board._repr_markdown_() == board.markdown()


def test_leaderboard_csv_header_and_rows():
    rows = _board().csv().splitlines()
    assert rows[0] == "method," + ",".join(CSV_KEYS)
    assert rows[0].startswith("method,knn_accuracy,linear_probe_accuracy") and rows[0].endswith(",train_time_s,epochs")
    assert [r.split(",")[0] for r in rows[1:]] == ["raw pixels", "siamese", "simclr", "supcon"]
    pixels = dict(zip(rows[0].split(","), rows[1].split(",")))
    assert pixels["knn_accuracy"] == "0.958" and pixels["train_time_s"] == "" and pixels["epochs"] == ""
    siamese = dict(zip(rows[0].split(","), rows[2].split(",")))
    assert (siamese["knn_accuracy"], siamese["train_time_s"], siamese["epochs"]) == ("0.981", "59.6", "5")
    assert siamese["verification_eer"] == "0.18"
    assert dict(zip(rows[0].split(","), rows[4].split(",")))["knn_accuracy"] == "0.9925"
    assert all(len(r.split(",")) == 1 + len(CSV_KEYS) for r in rows)


def _meta(**overrides) -> dict:
    meta = {
        "quick": False,
        "data": {"source": "sample", "n_train": 8000, "n_test": 2000, "limit_train": None},
        "device": "cpu (2 threads)",
        "total_time_s": 600.0,
        "command": "python -m contrastkit compare",
        "versions": {"contrastkit": "0.1.0", "torch": "2.x"},
    }
    meta.update(overrides)
    return meta


def test_comparison_report_with_targets():
    text = comparison_report(_board(), _meta())
    assert text.startswith("# contrastkit comparison report")
    assert "Data: **sample** MNIST, 8,000 training / 2,000 test images. Device: cpu (2 threads)." in text
    assert "Total time: 10.0 min" in text and "Command: `python -m contrastkit compare`" in text
    assert "| method | labels used | kNN | kNN vs pixels | linear probe |" in text and "kNN target |" in text
    assert "| raw pixels | no | 95.80% |  |" in text
    assert "| siamese | yes | 98.10% | +2.30 pts |" in text and "met (≥ 98.0%) |" in text
    assert "| simclr | no | 97.50% | +1.70 pts |" in text  # SimCLR trains without labels
    assert "Best kNN: **supcon**, 99.25% (+3.45 pts against raw pixels)." in text
    assert "simclr kNN ≥ 97.5% and ≥ raw pixels + 1.5 points" in text
    assert "![UMAP of each embedding](umap_grid.png)" in text
    assert "contrastkit 0.1.0, torch 2.x" in text
    missed = _board()
    missed.entries[1] = ("simclr", {**PIXELS, "knn_accuracy": 0.966}, None)  # under the bar and under raw + 1.5
    assert "| simclr | no | 96.60% | +0.80 pts |" in comparison_report(missed, _meta())
    assert "MISSED (≥ 97.5%)" in comparison_report(missed, _meta())


def test_comparison_report_quick_or_subset_has_no_targets():
    quick = comparison_report(_board(), _meta(quick=True))
    assert "quick mode: a pipeline check" in quick and "kNN target" not in quick
    subset = comparison_report(_board(), _meta(data={"source": "sample", "n_train": 300, "n_test": 100,
                                                     "limit_train": 300}))  # fmt: skip
    assert "a class-stratified subset" in subset and "kNN target" not in subset
    assert "### siamese" not in subset  # only runs with a directory get a training-curve section


def test_the_runs_face_offers_the_report():
    for name in ("Leaderboard", "COLUMNS", "format_metric", "markdown_table", "metrics_line", "text_table"):
        assert getattr(runs, name) is getattr(report, name), name
    with pytest.raises(AttributeError):
        runs.leaderboard_csv  # noqa: B018 - replaced by Leaderboard.csv
