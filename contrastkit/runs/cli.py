"""The command line: ``python -m contrastkit {train,compare,evaluate,list}``.

- ``train --method supcon [--epochs 5 --lr 1e-3 ...]`` trains one recipe into a new run directory
  (``runs/<method>-<timestamp>``); ``--out DIR --resume`` continues an interrupted run.
- ``compare [--methods ...] [--quick]`` trains each method with its default recipe and writes a
  report (``report.md``, ``leaderboard.csv``, ``umap_grid.png``) beside the methods' own runs.
- ``evaluate RUN_DIR`` re-evaluates a saved run; ``list`` prints the runs with their key metrics.

This module parses the command line and prints; the work is done by :mod:`contrastkit.runs.runner`
(training, evaluating and comparing runs) and the text by :mod:`contrastkit.runs.report`.

Exit codes: 0 success, 1 an error (the message says what to fix), 2 a usage error, 130 Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from contrastkit.data import DataIntegrityError, DownloadError
from contrastkit.runs.report import format_metric, metrics_line, text_table
from contrastkit.runs.rundir import (
    HISTORY_FILE,
    METRICS_FILE,
    TENSORBOARD_DIR,
    config_from_record,
    data_from_record,
    history_from_jsonl,
    library_versions,
    list_runs,
    load,
    prepare_data,
)
from contrastkit.runs.runner import compare, ensure_fresh_dir, evaluate_run, new_run_dir, train_run
from contrastkit.train import METHODS, TrainingDivergedError, make_config, parse_overrides, recipe_fields
from contrastkit.utils import pick_device, quick_mode

__all__ = ["build_parser", "main"]

DATA_SOURCES = ("auto", "sample", "full")
#: CLI option -> (config field, type). An option the chosen method's config lacks is refused.
RECIPE_OPTIONS: dict[str, tuple[str, type]] = {
    "--epochs": ("epochs", int),
    "--batch-size": ("batch_size", int),
    "--lr": ("lr", float),
    "--weight-decay": ("weight_decay", float),
    "--temperature": ("temperature", float),
    "--margin": ("margin", float),
    "--embedding-dim": ("embedding_dim", int),
    "--strategy": ("strategy", str),
    "--seed": ("seed", int),
}
#: ``compare --quick``: images and epochs per method (a smoke test of the whole pipeline, not a benchmark).
QUICK_TRAIN, QUICK_TEST, QUICK_EPOCHS = 2000, 500, 1


# ----------------------------------------------------------------------------------------------
# Parser
# ----------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m contrastkit``."""
    parser = argparse.ArgumentParser(
        prog="contrastkit",
        description="Train, compare and inspect contrastive-learning runs on MNIST.",
        epilog="Runs are written under runs/ by default; `contrastkit list` shows them.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    train = sub.add_parser(
        "train",
        help="train one method into a run directory",
        description="Train one method (its default recipe, changed by the options below) into a run directory.",
    )
    train.add_argument("--method", choices=METHODS, help="which recipe (required unless --resume)")
    recipe = train.add_argument_group("recipe", "fields of the method's config; an option the method lacks is refused")
    for option, (name, kind) in RECIPE_OPTIONS.items():
        extra: dict[str, Any] = {"choices": ("all", "hard", "semihard")} if name == "strategy" else {}
        recipe.add_argument(option, dest=name, type=kind, default=None, metavar=name.upper(), **extra)
    recipe.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="any other config field, e.g. --set samples_per_class=8 (repeatable)",
    )
    _add_data_options(train)
    train.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N or mps")
    train.add_argument("--out", type=Path, help="run directory (default: runs/<method>-<timestamp>)")
    train.add_argument("--resume", action="store_true", help="continue the interrupted run in --out")
    train.add_argument("--tensorboard", action="store_true", help="also write TensorBoard scalars and projector")
    train.add_argument("--no-figures", dest="figures", action="store_false", help="skip history.png and umap.png")
    train.add_argument("--quiet", action="store_true", help="no progress bars")
    train.set_defaults(func=_cmd_train, parser=train)

    compare = sub.add_parser(
        "compare",
        help="train every method and write a comparison report",
        description="Train each method with its default recipe on the same data and write report.md, "
        "leaderboard.csv and umap_grid.png into a new directory (each method's run inside it).",
    )
    compare.add_argument(
        "--methods",
        nargs="+",
        choices=METHODS,
        default=list(METHODS),
        metavar="METHOD",
        help=f"subset of {', '.join(METHODS)} (default: all)",
    )
    _add_data_options(compare)
    compare.add_argument(
        "--quick",
        action="store_true",
        help=f"{QUICK_EPOCHS} epoch(s) on {QUICK_TRAIN}/{QUICK_TEST} images: checks the pipeline in a minute or two",
    )
    compare.add_argument("--epochs", type=int, default=None, help=argparse.SUPPRESS)
    compare.add_argument("--seed", type=int, default=None, help="training seed for every method (default: recipe's)")
    compare.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N or mps")
    compare.add_argument("--out", type=Path, help="output directory (default: runs/compare-<timestamp>)")
    compare.add_argument("--quiet", action="store_true", help="no progress bars")
    compare.set_defaults(func=_cmd_compare, parser=compare)

    evaluate = sub.add_parser(
        "evaluate",
        help="re-evaluate a saved run",
        description="Re-evaluate a saved run: rebuild its encoder from model.pt, re-embed its data, "
        "rewrite metrics.json.",
    )
    evaluate.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    evaluate.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N or mps")
    evaluate.set_defaults(func=_cmd_evaluate, parser=evaluate)

    listing = sub.add_parser("list", help="list runs with their key metrics")
    listing.add_argument("--root", type=Path, default=Path("runs"), help="where to look (default: runs)")
    listing.set_defaults(func=_cmd_list, parser=listing)
    return parser


def _add_data_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        choices=DATA_SOURCES,
        default=None,
        help="auto (default: the full MNIST when downloaded, else the bundled sample), sample or full",
    )
    # testing and quick experiments: a class-stratified subset of the data
    parser.add_argument("--limit-train", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--limit-test", type=int, default=None, help=argparse.SUPPRESS)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit code (argparse's usage errors give 2)."""
    os.environ.setdefault("MPLBACKEND", "Agg")  # figures go to files; never open a window
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        args.argv = argv
        return args.func(args)
    except SystemExit as stop:  # argparse (usage errors, --help)
        return stop.code if isinstance(stop.code, int) else 1
    except KeyboardInterrupt:
        print("\ncontrastkit: interrupted", file=sys.stderr)
        return 130
    except USER_ERRORS as err:
        print(f"contrastkit: error: {err}", file=sys.stderr)
        return 1
    except OSError as err:  # a read-only or missing folder, a file where a folder should be, a full disk
        print(f"contrastkit: error: could not read or write a file: {err}", file=sys.stderr)
        return 1


#: Exceptions that mean bad input or a bad run, reported as a message rather than a traceback.
USER_ERRORS = (ValueError, DataIntegrityError, DownloadError, TrainingDivergedError)


# ----------------------------------------------------------------------------------------------
# train
# ----------------------------------------------------------------------------------------------


def _recipe_overrides(args: argparse.Namespace, config) -> dict[str, Any]:
    """Recipe values given on the command line (options and ``--set``), checked against the config's fields."""
    parser: argparse.ArgumentParser = args.parser
    fields = recipe_fields(config)
    overrides: dict[str, Any] = {}
    for option, (name, _) in RECIPE_OPTIONS.items():
        value = getattr(args, name)
        if value is None:
            continue
        if name not in fields:
            parser.error(f"{option} does not apply to {config.method}: its recipe fields are {', '.join(fields)}")
        overrides[name] = value
    try:
        overrides.update(parse_overrides(config, args.overrides))
    except ValueError as err:
        parser.error(f"--set: {err}")
    return overrides


def _cmd_train(args: argparse.Namespace) -> int:
    parser: argparse.ArgumentParser = args.parser
    if args.resume:
        if args.out is None:
            parser.error("--resume needs --out RUN_DIR: the run to continue")
        record = load(args.out).config
        if args.method is not None and args.method != record["method"]:
            raise ValueError(f"{args.out} holds a {record['method']} run, not {args.method}")
        args.method = record["method"]
        config = config_from_record(record)
        for name, value in _recipe_overrides(args, config).items():
            if getattr(config, name) != value:
                raise ValueError(
                    f"{name}={value!r} differs from the run's {name}={getattr(config, name)!r}: with --resume the "
                    "recipe is read from config.json; omit the recipe options or start a new run"
                )
        stored = record.get("data", {})
        for option, given, kept in (
            ("--data", args.data, (stored.get("requested"), stored.get("source"))),
            ("--limit-train", args.limit_train, (stored.get("limit_train"),)),
            ("--limit-test", args.limit_test, (stored.get("limit_test"),)),
        ):
            if given is not None and given not in kept:
                raise ValueError(f"{option} {given} differs from the run's data ({kept[0]}); omit it with --resume")
        data, data_record = data_from_record(stored), stored
        tensorboard = args.tensorboard or bool(record.get("tensorboard"))
        run_dir = args.out
    else:
        if args.method is None:
            parser.error("--method is required (one of " + ", ".join(METHODS) + ")")
        config = make_config(args.method, **_recipe_overrides(args, make_config(args.method)))
        if args.out is not None:
            ensure_fresh_dir(args.out)  # refuse before loading data and training
        data, data_record = prepare_data(args.data or "auto", args.limit_train, args.limit_test)
        run_dir = args.out if args.out is not None else new_run_dir("runs", args.method)
        tensorboard = args.tensorboard

    print(f"contrastkit: {'resuming' if args.resume else 'training'} {config.method} into {run_dir}")
    print(f"  data: {data_record['source']} ({data_record['n_train']} train / {data_record['n_test']} test)")
    print(f"  recipe: {_recipe_summary(config)}")
    try:
        run = train_run(
            run_dir,
            config,
            data,
            data_record,
            device=pick_device(args.device),
            resume=args.resume,
            tensorboard=tensorboard,
            progress=not args.quiet,
            figures=args.figures,
        )
    except KeyboardInterrupt:
        _print_interrupted(run_dir, config)
        return 130
    print(f"\n{run.method} finished: {metrics_line(run.metrics)}")
    print(f"run directory: {run.path}")
    if tensorboard:
        print(f"TensorBoard: tensorboard --logdir {shlex.quote(str(run.path / TENSORBOARD_DIR))}")
    return 0


def _recipe_summary(config) -> str:
    return ", ".join(f"{name}={getattr(config, name)}" for name in recipe_fields(config))


def _print_interrupted(run_dir: Path, config) -> None:
    path = Path(run_dir) / HISTORY_FILE
    done = len(history_from_jsonl(path.read_text(encoding="utf-8")).get("epoch", ())) if path.is_file() else 0
    total = getattr(config, "epochs", "?")
    print(
        f"\ncontrastkit: interrupted after {done} of {total} epoch(s). The checkpoint and metrics.jsonl in "
        f"{run_dir} hold every finished epoch; continue with:\n"
        f"  python -m contrastkit train --out {shlex.quote(str(run_dir))} --resume",
        file=sys.stderr,
    )


# ----------------------------------------------------------------------------------------------
# evaluate and list
# ----------------------------------------------------------------------------------------------


def _cmd_evaluate(args: argparse.Namespace) -> int:
    print(f"contrastkit: re-evaluating {args.run_dir}")
    before = load(args.run_dir)
    now = library_versions()
    changed = {k: (v, now.get(k)) for k, v in before.config.get("versions", {}).items() if now.get(k) != v}
    if changed:
        print(
            "  note: the run was trained with other versions: "
            + ", ".join(f"{k} {a} (now {b})" for k, (a, b) in changed.items())
        )
    run = evaluate_run(args.run_dir, device=pick_device(args.device))
    for key, value in run.metrics.items():
        old = before.metrics.get(key)
        was = f"  (was {format_metric(key, old)})" if old is not None and old != value else ""
        print(f"  {key:<24}{format_metric(key, value)}{was}")
    print(f"rewrote {run.path / METRICS_FILE}" if before.finished else f"wrote {run.path / METRICS_FILE}")
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    found = list_runs(args.root)
    if not found:
        print(f"no runs under {args.root} (train one with `python -m contrastkit train --method supcon`)")
        return 0
    rows = []
    for run in found:
        data = run.config.get("data", {})
        done = len(run.history.get("epoch", ()))
        total = run.config.get("config", {}).get("epochs", "?")
        rows.append(
            [
                _relative(run.path, args.root),
                run.method,
                f"{data.get('source', '?')} {data.get('n_train', '?')}/{data.get('n_test', '?')}",
                f"{done}/{total}",
                format_metric("knn_accuracy", run.metrics.get("knn_accuracy")),
                format_metric("linear_probe_accuracy", run.metrics.get("linear_probe_accuracy")),
                format_metric("train_time_s", run.metrics.get("train_time_s")) if run.finished else "unfinished",
            ]
        )
    print(text_table(["run", "method", "data", "epochs", "kNN", "linear probe", "time"], rows))
    return 0


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


# ----------------------------------------------------------------------------------------------
# compare
# ----------------------------------------------------------------------------------------------


def _cmd_compare(args: argparse.Namespace) -> int:
    quick = args.quick or quick_mode()
    methods = list(dict.fromkeys(args.methods))  # keep order, drop repeats
    overrides: dict[str, Any] = {}
    if args.epochs is not None or quick:
        overrides["epochs"] = args.epochs if args.epochs is not None else QUICK_EPOCHS
    if args.seed is not None:
        overrides["seed"] = args.seed
    configs = {m: make_config(m, **overrides) for m in methods}  # validate everything before training
    limit_train = args.limit_train if args.limit_train is not None else (QUICK_TRAIN if quick else None)
    limit_test = args.limit_test if args.limit_test is not None else (QUICK_TEST if quick else None)
    device = pick_device(args.device)
    out = ensure_fresh_dir(args.out, resumable=False) if args.out is not None else new_run_dir("runs", "compare")

    start = time.perf_counter()
    data, data_record = prepare_data(args.data or "auto", limit_train, limit_test)
    sizes = f"{data_record['n_train']} train / {data_record['n_test']} test"
    print(
        f"contrastkit compare: {', '.join(methods)} on {data_record['source']} ({sizes}){' [quick]' * quick} -> {out}"
    )
    if data_record["source"] == "full" and device.type == "cpu" and limit_train is None:
        print("  note: on a CPU the full MNIST takes about 7 times as long as the sample (--data sample)")
    meta = {"quick": quick, "command": "python -m contrastkit " + shlex.join(args.argv)}
    try:
        board = compare(out, configs, data, data_record, device=device, progress=not args.quiet, meta=meta)
    except KeyboardInterrupt:
        return 130
    print(f"\n{board.text()}")
    print(f"\ndone in {(time.perf_counter() - start) / 60:.1f} min; report: {out / 'report.md'}")
    return 0
