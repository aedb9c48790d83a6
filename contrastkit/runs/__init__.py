"""Tracked experiment runs: run directories, reports, and the command line ``python -m contrastkit``.

- :mod:`~contrastkit.runs.rundir`: what a run directory holds; ``load`` and ``list_runs`` read runs
  back (``run.metrics``, ``run.history``, ``run.embeddings``, ``run.model()``).
- :mod:`~contrastkit.runs.runner`: ``train_run``, ``evaluate_run`` and ``compare`` write them.
- :mod:`~contrastkit.runs.report`: the ``Leaderboard`` and the comparison report; number formats.
- :mod:`~contrastkit.runs.targets`: the quality targets of the default recipes.
- :mod:`~contrastkit.runs.cli`: the command line (``train``, ``compare``, ``evaluate``, ``list``).
"""

from contrastkit.runs.report import COLUMNS, Leaderboard, format_metric, markdown_table, metrics_line, text_table
from contrastkit.runs.rundir import (
    CONFIG_FILE,
    EMBEDDINGS_FILE,
    HISTORY_FILE,
    METRICS_FILE,
    MODEL_FILE,
    SUBSET_SEED,
    TENSORBOARD_DIR,
    Run,
    RunDirectoryError,
    config_from_record,
    data_from_record,
    history_from_jsonl,
    history_to_jsonl,
    library_versions,
    list_runs,
    load,
    prepare_data,
    write_config,
)
from contrastkit.runs.runner import (
    MetricsWriter,
    TensorBoardLogger,
    compare,
    ensure_fresh_dir,
    evaluate_run,
    new_run_dir,
    save_figure,
    train_run,
)
from contrastkit.runs.targets import SAMPLE_TARGETS, check_targets

__all__ = [
    "COLUMNS",
    "CONFIG_FILE",
    "EMBEDDINGS_FILE",
    "HISTORY_FILE",
    "METRICS_FILE",
    "MODEL_FILE",
    "SAMPLE_TARGETS",
    "SUBSET_SEED",
    "TENSORBOARD_DIR",
    "Leaderboard",
    "MetricsWriter",
    "Run",
    "RunDirectoryError",
    "TensorBoardLogger",
    "check_targets",
    "compare",
    "config_from_record",
    "data_from_record",
    "ensure_fresh_dir",
    "evaluate_run",
    "format_metric",
    "history_from_jsonl",
    "history_to_jsonl",
    "library_versions",
    "list_runs",
    "load",
    "markdown_table",
    "metrics_line",
    "new_run_dir",
    "prepare_data",
    "save_figure",
    "text_table",
    "train_run",
    "write_config",
]
