"""`qa eval`, added to the `qa` command through the `qa.commands` entry point (pyproject.toml), so the
library's CLI never imports the evals: score the gold suite or a benchmark through the real engine."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from qa.cli import add_mode_arguments
from qa.errors import BadInput, QAError

EXIT_FAILED = 1  # a metric crossed its bound
EXIT_NOT_RUN = 2  # the run could not happen (a bad argument or file, no LLM, the index unreachable)


def register(subcommands) -> None:
    """Add `qa eval` to the `qa` command's subcommands."""
    s = subcommands.add_parser("eval", help="score the gold suite or a benchmark; exits 1 below a threshold, 2 when it cannot run")
    s.add_argument("--benchmark", metavar="NAME|PATH", help="squad2, rgb, or a file in either format")
    s.add_argument("--limit", type=int, default=None, metavar="N",
                   help="answerable questions to sample (default: all); every article of the benchmark is indexed, once, and reused")
    s.add_argument("--unanswerable", type=int, default=0, metavar="N", help="squad2: also sample N unanswerable questions")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--gold", type=Path, default=None, metavar="FILE", help="gold suite (default: evals/gold.json)")
    s.add_argument("--distractors", metavar="NAME|PATH", help="gold suite with every article of this benchmark (rgb) indexed beside corpus/")
    s.add_argument("--thresholds", type=Path, default=None, metavar="FILE", help="default: evals/thresholds.toml")
    s.add_argument("--json", type=Path, metavar="FILE", help="also write the metrics and every case")
    s.add_argument("--junit", type=Path, metavar="FILE.xml",
                   help="also write JUnit XML: a test case for the floors (failed when qa eval fails) and one per question "
                   "or turn, its outcome in its properties")  # fmt: skip
    s.add_argument("--junit-cases", action="store_true", help="with --junit: mark each wrong question failed too")
    s.add_argument("--report", type=Path, metavar="FILE.md", help="default: QA_DATA_DIR/reports/<run>.md")
    add_mode_arguments(s, default="extractive", generative_help="generative: the configured LLM (QA_LLM_*) answers and "
                        "every sentence is verified; the run is named <suite>-generative")  # fmt: skip
    s.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Exit 0: run, and every bound met (or the bounds are for another sample); 1: a bound crossed;
    2: the run could not happen (a bad argument or file, no LLM, the index unreachable)."""
    try:
        return _eval(args)
    except QAError as err:
        print(f"qa: error: {err}", file=sys.stderr)
        return EXIT_NOT_RUN


def _check_eval_args(args: argparse.Namespace, benchmark_names) -> None:
    if args.limit is not None and args.limit < 1:
        raise BadInput("--limit must be at least 1")
    if args.unanswerable < 0:
        raise BadInput("--unanswerable must be 0 or more")
    if args.distractors and args.benchmark:
        raise BadInput("--distractors applies to the gold suite only")
    if args.verify and args.mode != "generative":
        raise BadInput("--verify applies to --mode generative only")
    if getattr(args, "junit_cases", False) and not args.junit:
        raise BadInput("--junit-cases applies with --junit only")
    if args.benchmark and args.benchmark not in benchmark_names and not Path(args.benchmark).is_file():
        raise BadInput(f"no benchmark {args.benchmark!r}: give squad2, rgb or the path of a benchmark file")


def _written(path: Path, write: Callable[[Path], None]) -> Path:
    try:
        write(path)
    except OSError as err:
        raise BadInput(f"cannot write {path}: {err.strerror or err}") from None
    return path


def _eval(args: argparse.Namespace) -> int:
    from evals import benchmarks
    from qa.config import Settings

    settings = Settings()
    _check_eval_args(args, benchmarks.FILES)  # before the engine's imports: a bad argument is refused at once
    from evals import report, runner

    thresholds = runner.load_thresholds(args.thresholds)  # a bad file is refused before the run, not after
    how = {"settings": settings, "mode": args.mode, "verify": args.verify}
    if args.benchmark:
        result = runner.run_benchmark(args.benchmark, limit=args.limit, seed=args.seed, unanswerable=args.unanswerable, **how)
    else:
        result = runner.run_gold(path=args.gold, distractors=args.distractors, **how)
    verdict = runner.gate(result, thresholds)
    print(report.table(result, verdict.failed, verdict.skipped))
    if args.json:
        print(f"cases written to {_written(args.json, lambda p: report.write_json(result, p))}")
    if args.junit:
        def junit(path: Path) -> None:
            report.write_junit(result, path, verdict.failed, verdict.skipped, cases=args.junit_cases)

        print(f"JUnit XML written to {_written(args.junit, junit)}")
    out = args.report or Path(settings.data_dir) / "reports" / f"{result.name}.md"
    command = "qa eval " + " ".join(args.argv)
    _written(out, lambda p: report.write_markdown(result, p, verdict.failed, command=command, skipped=verdict.skipped))
    print(f"report written to {out}")
    return EXIT_FAILED if verdict.failed else 0
