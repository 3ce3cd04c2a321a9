"""The timing loop that ort_bench.py and tract_bench.py share.

A peer script sets its model up, then hands `run` (one inference) to `measure` for a
one-shot median, or to `serve`, which `zantc bench` drives over a pipe so that the peer's
timing slices take turns with the zant harnesses' (the machine's speed drifts over
seconds, and figures taken minutes apart do not compare).

The serving protocol, one line each way: the script prints `ready` once the model is
loaded and warmed up; each `measure MS` line on stdin times one slice (at least five
inferences or MS milliseconds) and answers `time_us=MEDIAN`, `runs=N` and `end`. The
script exits at the end of its input.
"""

import argparse
import statistics
import sys
import time
from typing import Callable


def measure(run: Callable[[], object], budget_ms: int) -> tuple[float, int]:
    """The median wall time of `run` in µs over at least five calls or `budget_ms`
    milliseconds, and the number of calls."""
    times = []
    budget = budget_ms / 1000.0
    start = time.perf_counter()
    while len(times) < 5 or time.perf_counter() - start < budget:
        t = time.perf_counter()
        run()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e6, len(times)


def serve(run: Callable[[], object]) -> None:
    """Answers `measure MS` lines on stdin until its end (see the module docs)."""
    run()
    print("ready", flush=True)
    for line in sys.stdin:
        command, _, budget = line.strip().partition(" ")
        if command != "measure" or not budget.isdigit():
            raise ValueError(f"expected `measure MS`, got {line.strip()!r}")
        time_us, runs = measure(run, int(budget))
        print(f"time_us={time_us}\nruns={runs}\nend", flush=True)


def one_shot(run: Callable[[], object], budget_ms: int, version: str) -> None:
    """One warm-up call, then one `measure`, printed as `key=value` lines with the
    peer's `name=version`."""
    run()
    time_us, runs = measure(run, budget_ms)
    print(f"time_us={time_us}")
    print(f"runs={runs}")
    print(version)


def parser(doc: str) -> argparse.ArgumentParser:
    """The command line every peer script takes: MODEL INPUT.npy... [--budget-ms MS |
    --serve], described by the first line of the script's `doc`."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("model")
    p.add_argument("inputs", nargs="+")
    p.add_argument("--budget-ms", type=int, default=1000)
    p.add_argument("--serve", action="store_true")
    return p


def time_run(args: argparse.Namespace, run: Callable[[], object], version: str) -> None:
    """Serves slices (`--serve`) or prints one measurement, as `args` asks."""
    if args.serve:
        serve(run)
    else:
        one_shot(run, args.budget_ms, version)
