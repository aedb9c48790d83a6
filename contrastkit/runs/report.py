"""Metrics as text: number formats, tables, the :class:`Leaderboard`, and the report of ``compare``.

Everything here turns metric dicts (``evaluate_embeddings`` results, a run's ``metrics.json``)
into strings and touches no file: the command line prints these strings and writes them
atomically as ``report.md`` and ``leaderboard.csv``.

A :class:`Leaderboard` holds the raw-pixel baseline and one row per trained method; in a notebook
it displays itself as a Markdown table::

    board = ck.runs.Leaderboard(baseline=ck.evaluate.evaluate_embeddings(pixels_train, y_train, pixels_test, y_test))
    board.add("SupCon", metrics)
    board                      # a table in a notebook; print(board.text()) in a terminal
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from contrastkit.evaluate import METRIC_KEYS
from contrastkit.runs.rundir import Run
from contrastkit.runs.targets import SAMPLE_TARGETS, Target, check_targets

__all__ = [
    "COLUMNS",
    "CSV_KEYS",
    "Leaderboard",
    "comparison_report",
    "format_metric",
    "markdown_table",
    "metrics_line",
    "text_table",
]

#: Leaderboard columns: (metrics key, header, format).
COLUMNS = (
    ("knn_accuracy", "kNN", "pct"),
    ("linear_probe_accuracy", "linear probe", "pct"),
    ("precision_at_1", "P@1", "pct"),
    ("map_at_r", "MAP@R", "pct"),
    ("verification_auc", "verif. AUC", "f3"),
    ("alignment", "alignment", "f3"),
    ("uniformity", "uniformity", "f3"),
    ("train_time_s", "train time", "time"),
)
#: Columns of ``leaderboard.csv``: every evaluation metric, unformatted.
CSV_KEYS = (*METRIC_KEYS, "train_time_s", "epochs")


# ----------------------------------------------------------------------------------------------
# Leaderboard and report
# ----------------------------------------------------------------------------------------------


@dataclass
class Leaderboard:
    """Methods side by side against the raw-pixel baseline.

    Attributes:
        baseline: the metrics of the raw pixels used directly as the embedding.
        entries: ``(name, metrics, run)`` per method, in the order added; ``run`` is the
            :class:`~contrastkit.runs.Run` it came from, or None.
    """

    baseline: dict[str, float]
    entries: list[tuple[str, dict[str, float], Run | None]] = field(default_factory=list)

    def add(self, name: str, metrics: Mapping[str, float], run: Run | None = None) -> None:
        """Append a method's row."""
        self.entries.append((name, dict(metrics), run))

    @property
    def rows(self) -> list[tuple[str, dict[str, float], Run | None]]:
        """The baseline ("raw pixels") first, then the methods."""
        return [("raw pixels", self.baseline, None), *self.entries]

    def best(self) -> tuple[str, dict[str, float]]:
        """The method with the highest kNN accuracy."""
        name, metrics, _ = max(self.entries, key=lambda e: e[1]["knn_accuracy"])
        return name, metrics

    def cells(self) -> list[list[str]]:
        """One row of formatted cells per row: the name, then each of :data:`COLUMNS`."""
        return [[name, *(format_metric(key, m.get(key)) for key, _, _ in COLUMNS)] for name, m, _ in self.rows]

    def header(self) -> list[str]:
        """``"method"`` and the column titles of :data:`COLUMNS`."""
        return ["method", *(title for _, title, _ in COLUMNS)]

    def text(self) -> str:
        """The table for a terminal."""
        return text_table(self.header(), self.cells())

    def markdown(self) -> str:
        """The table in Markdown."""
        return markdown_table(self.header(), self.cells())

    def csv(self) -> str:
        """``leaderboard.csv``: a row per method with every evaluation metric, numbers unformatted."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["method", *CSV_KEYS])
        for name, metrics, _ in self.rows:
            writer.writerow([name, *(_csv_value(metrics.get(key)) for key in CSV_KEYS)])
        return buffer.getvalue()

    def _repr_markdown_(self) -> str:
        return self.markdown()


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def comparison_report(board: Leaderboard, meta: dict[str, Any]) -> str:
    """``report.md``: the leaderboard against the raw-pixel ``baseline``, how to read it, figures, environment.

    ``meta`` is what ``compare.json`` holds (methods, quick, data, device, total_time_s, versions, command).
    """
    baseline = board.baseline
    data = meta["data"]
    with_targets = not meta["quick"] and data["source"] == "sample" and data.get("limit_train") is None
    header = ["method", "labels used", *(c[1] for c in COLUMNS[:1]), "kNN vs pixels", *(c[1] for c in COLUMNS[1:])]
    header += ["kNN target"] if with_targets else []
    rows = []
    for name, metrics, _ in board.rows:
        row = [
            name,
            "no" if name in ("simclr", "raw pixels") else "yes",
            format_metric("knn_accuracy", metrics.get("knn_accuracy")),
        ]
        row.append("" if name == "raw pixels" else _points(metrics["knn_accuracy"] - baseline["knn_accuracy"]))
        row += [format_metric(key, metrics.get(key)) for key, _, _ in COLUMNS[1:]]
        if with_targets:
            row.append(_target(name, metrics, baseline))
        rows.append(row)
    best, best_metrics = board.best()
    scope = "quick mode: a pipeline check with few epochs on a subset, not a benchmark" if meta["quick"] else ""
    scope = scope or ("a class-stratified subset" if data.get("limit_train") or data.get("limit_test") else "")
    lines = [
        "# contrastkit comparison report",
        "",
        f"Data: **{data['source']}** MNIST, {data['n_train']:,} training / {data['n_test']:,} test images"
        + (f" (**{scope}**)" if scope else "")
        + f". Device: {meta['device']}. Total time: {meta['total_time_s'] / 60:.1f} min.",
        "",
        f"Command: `{meta['command']}`",
        "",
        "## Leaderboard",
        "",
        markdown_table(header, rows),
        "",
        "Every metric is measured on the **test** images with the frozen encoder; percentages are accuracies. "
        f"Best kNN: **{best}**, {format_metric('knn_accuracy', best_metrics['knn_accuracy'])} "
        f"({_points(best_metrics['knn_accuracy'] - baseline['knn_accuracy'])} against raw pixels).",
        "",
        "## How to read it",
        "",
        "- **raw pixels** is the baseline: the 784 pixel values used directly as the embedding. A method "
        "is only worth its training if it beats this row.",
        "- **kNN**: a test digit gets the majority label of its 5 nearest training embeddings (cosine). "
        "The most direct measure of whether same-digit images ended up close together.",
        "- **linear probe**: a logistic-regression layer trained on the frozen embeddings. It asks whether "
        "the classes are *linearly separable*, a weaker demand than being clustered; SimCLR, which never "
        "sees a label, is usually judged by this number.",
        "- **P@1** and **MAP@R** (Musgrave et al. 2020) are retrieval scores within the test set: is the "
        "nearest other image the same digit, and how high do all R same-digit images rank among the first "
        "R results. MAP@R is the strictest column and separates methods that kNN calls a tie.",
        '- **verif. AUC**: how well the cosine distance alone tells "same digit" from "different digit" '
        "on 2,000 test pairs (1.0 = perfectly, 0.5 = chance).",
        "- **alignment** (lower is better): mean squared distance between normalised embeddings of "
        "same-digit pairs. **uniformity** (lower, i.e. more negative, is better): how evenly the normalised "
        "embeddings spread over the sphere (Wang and Isola 2020). Good embeddings have both; collapse shows "
        "up as excellent alignment with poor uniformity.",
        "- **labels used**: Siamese, triplet and SupCon train with the digit labels, SimCLR only with "
        "augmented views of each image; compare SimCLR with the raw-pixel row rather than with SupCon.",
        "- **train time** is the wall time of the training epochs alone (evaluation excluded), on the "
        "device above; the number of epochs differs between recipes.",
    ]
    if with_targets:
        lines.append(
            "- **kNN target**: the quality bar of the default recipes on the bundled sample ("
            + ", ".join(f"{name} {_target_text(targets)}" for name, targets in SAMPLE_TARGETS.items())
            + ")."
        )
    lines += [
        "",
        "## The embeddings, side by side",
        "",
        "UMAP projections of the test embeddings, coloured by digit. UMAP keeps neighbourhoods but distorts "
        "distances *between* clusters and their sizes: read it for which digits mix, not for how far apart "
        "clusters are.",
        "",
        "![UMAP of each embedding](umap_grid.png)",
        "",
        "## Training curves",
        "",
    ]
    for name, _, run in board.entries:
        if run is not None:
            lines += [f"### {name}", "", f"![{name} training history]({name}/history.png)", ""]
            lines += [f"Run directory: `{run.path}` (`python -m contrastkit evaluate {run.path}` re-evaluates it).", ""]
    versions = ", ".join(f"{k} {v}" for k, v in meta["versions"].items())
    lines += ["## Environment", "", versions, ""]
    return "\n".join(lines)


def _points(delta: float) -> str:
    return f"{100 * delta:+.2f} pts"


def _target_text(targets: tuple[Target, ...]) -> str:
    """A method's kNN targets in words, e.g. "kNN ≥ 97.5% and ≥ raw pixels + 1.5 points"."""
    words = []
    for t in targets:
        if t.metric == "knn_accuracy":
            words.append(f"kNN ≥ {t.threshold:.1%}")
        elif t.metric == "knn_gain":
            words.append(f"≥ raw pixels + {100 * t.threshold:.1f} points")
    return " and ".join(words)


def _target(name: str, metrics: dict[str, float], baseline: dict[str, float]) -> str:
    """The kNN target cell: whether every target of the method is met, and its kNN bar."""
    checks = check_targets(name, metrics, baseline["knn_accuracy"])
    if not checks:
        return ""
    goal = next(t.threshold for t, _ in checks if t.metric == "knn_accuracy")
    ok = all(met for t, met in checks if t.metric in ("knn_accuracy", "knn_gain"))
    return f"{'met' if ok else 'MISSED'} (≥ {goal:.1%})"


# ----------------------------------------------------------------------------------------------
# Formatting
# ----------------------------------------------------------------------------------------------


def format_metric(key: str, value: Any) -> str:
    """``value`` of metric ``key`` for people: accuracies in %, times in s or min, else 3 decimals."""
    if value is None:
        return "-"
    if key.endswith("_accuracy") or key in ("precision_at_1", "map_at_r", "r_precision"):
        return f"{100 * value:.2f}%"
    if key.endswith("_time_s"):
        return f"{value:.0f} s" if value < 120 else f"{value / 60:.1f} min"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def metrics_line(metrics: dict[str, Any]) -> str:
    """The first four leaderboard metrics and the training time on one line."""
    parts = [f"{label} {format_metric(key, metrics[key])}" for key, label, _ in COLUMNS[:4] if key in metrics]
    if "train_time_s" in metrics:
        parts.append(f"trained in {format_metric('train_time_s', metrics['train_time_s'])}")
    return ", ".join(parts)


def text_table(header: Sequence[object], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table with left-aligned columns and a dashed rule under the header (cells via ``str``)."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    lines = ["  ".join(str(cell).ljust(w) for cell, w in zip(row, widths)).rstrip() for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown_table(header: Sequence[object], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown (GitHub) table; cells are converted with ``str``.

    In a notebook: ``display(Markdown(markdown_table(header, rows)))``.
    """
    lines = ["| " + " | ".join(map(str, header)) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in rows]
    return "\n".join(lines)
