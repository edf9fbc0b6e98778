"""A small benchmark harness: speed (× real time) with N threads and peak memory, each
measured in a fresh Python subprocess.

Why subprocesses: peak resident memory (``ru_maxrss``) only ever grows inside a process,
and thread pools (OpenMP, MKL, torch) are sized when a library is first imported. A fresh
process per (model, threads, length) setting gives clean, comparable figures.

A *case* is a factory named ``"package.module:function"`` or ``"path/to/file.py:function"``.
The worker calls ``factory(seconds=..., **kwargs)`` (untimed set-up: build the model, make
the input) and gets back a callable ``work()`` that processes ``seconds`` of audio; each call
of ``work()`` is timed (wall clock and process CPU time). Speed is
``seconds / median(time)``; peak memory is the worker's
``ru_maxrss`` after all calls (set-up included: that is what a user's machine must hold).
The machine's 1-minute load average before and after is recorded with each measurement:
on a shared machine, a figure taken under load is a lower bound on speed.

Typical use::

    m = run_case("benchmarks/separation.py:sonomorph_case", seconds=60, threads=1, repeats=3)
    print(m.x_realtime, m.peak_rss_mb)
    rows = memory_growth("benchmarks/separation.py:sonomorph_case", [60, 600, 3600])
    print(growth_mb_per_minute(rows))
    both = side_by_side({"a": {"target": "cases.py:a"}, "b": {"target": "cases.py:b"}},
                        rounds=3, seconds=10)   # ratios of a and b under the same load
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "Measurement",
    "run_case",
    "merge",
    "side_by_side",
    "speed",
    "memory_growth",
    "growth_mb_per_minute",
    "markdown_table",
    "load_factory",
    "add_device_option",
    "parse_args",
]

_RESULT_TAG = "SONOMORPH-BENCH-RESULT "
_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")


@dataclass
class Measurement:
    """One (case, threads, length) setting measured in one subprocess."""

    name: str
    seconds: float
    threads: int
    times: list[float] = field(default_factory=list)
    cpu_times: list[float] = field(default_factory=list)  #: process CPU seconds (all threads)
    peak_rss_mb: float | None = None
    error: str | None = None
    note: str = ""
    load: tuple[float, float] | None = None  #: 1-min load average before and after (Unix)
    device: str = "cpu"  #: where the model ran ("cpu" or "cuda")
    device_name: str | None = None  #: the processor or GPU (sonomorph.utils.device.device_name)
    peak_device_mb: float | None = None  #: peak CUDA memory allocated by torch (GPU runs)

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.times)

    @property
    def median_s(self) -> float | None:
        return statistics.median(self.times) if self.times else None

    @property
    def x_realtime(self) -> float | None:
        """Seconds of audio processed per second of wall time (median over repeats)."""
        med = self.median_s
        return self.seconds / med if med else None

    @property
    def x_realtime_cpu(self) -> float | None:
        """Seconds of audio per CPU second of the process (median over repeats). With one
        thread this is the speed on an otherwise idle core: unlike wall time, CPU time
        hardly changes when other processes compete for the machine."""
        med = statistics.median(self.cpu_times) if self.cpu_times else None
        return self.seconds / med if med else None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["median_s"] = self.median_s
        d["x_realtime"] = self.x_realtime
        d["x_realtime_cpu"] = self.x_realtime_cpu
        return d


# ----------------------------------------------------------------------------- worker side


def load_factory(target: str) -> Callable[..., Callable[[], object]]:
    """Resolve ``"pkg.module:name"`` or ``"some/file.py:name"`` to the named callable."""
    modname, sep, attr = target.rpartition(":")
    if not sep or not modname or not attr:
        raise ValueError(f"benchmark target must be 'module:function', got {target!r}")
    if modname.endswith(".py") or os.sep in modname:
        path = Path(modname).resolve()
        spec = importlib.util.spec_from_file_location(f"_bench_{path.stem}", path)
        if spec is None or spec.loader is None:
            raise ValueError(f"cannot import benchmark file {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    else:
        module = importlib.import_module(modname)
    return getattr(module, attr)


def _peak_rss_mb() -> float:
    """This process's peak resident set size in MiB.

    On Linux this is VmHWM from /proc/self/status: ``ru_maxrss`` survives execve, so a
    worker forked from a large parent (pytest, a notebook) would report the parent's size.
    Elsewhere ``ru_maxrss`` (macOS reports bytes, others KiB)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _worker(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one setting inside this (fresh) process; returns the result record."""
    threads = int(spec["threads"])
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    # The parent set OMP_NUM_THREADS & co., which torch and BLAS read when imported; torch
    # is only touched here if the case imported it (a numpy-only case starts faster).
    factory = load_factory(spec["target"])
    device = spec.get("device")
    kwargs = dict(spec.get("kwargs", {}))
    if device is not None:  # the case builds its model and input there
        kwargs["device"] = device
    work = factory(seconds=float(spec["seconds"]), **kwargs)
    sync: Callable[[], object] = time.perf_counter  # nothing to wait for on the CPU
    if device == "cuda":
        import torch

        sync = torch.cuda.synchronize  # time the GPU's work, not its queueing
        torch.cuda.reset_peak_memory_stats()
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        torch.set_num_threads(threads)
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:  # already set, or inter-op work already started
            pass
    for _ in range(int(spec.get("warmup", 0))):
        work()
        sync()
    times, cpu = [], []
    for _ in range(int(spec.get("repeats", 1))):
        c0, t0 = time.process_time(), time.perf_counter()
        work()
        sync()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    load_after = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    from sonomorph.utils.device import device_name

    record = {"times": times, "cpu_times": cpu, "peak_rss_mb": _peak_rss_mb(),
              "load": [load_before, load_after], "device": device or "cpu",
              "device_name": device_name(device or "cpu")}
    if device == "cuda":
        import torch

        record["peak_device_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return record


# ----------------------------------------------------------------------------- parent side


def _limit_memory(limit_mb: int) -> Callable[[], None]:
    def apply() -> None:
        limit = int(limit_mb) * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return apply


def run_case(
    target: str,
    *,
    seconds: float,
    threads: int = 1,
    repeats: int = 3,
    warmup: int = 1,
    kwargs: dict[str, Any] | None = None,
    name: str | None = None,
    timeout: float | None = None,
    memory_limit_mb: int | None = None,
    python: str | None = None,
    cwd: str | os.PathLike | None = None,
    device: str | None = None,
) -> Measurement:
    """Measure one setting in a fresh subprocess.

    ``device`` (``"cpu"`` or ``"cuda"``, resolved: :func:`parse_args`) is passed to the
    factory as ``device=``; on ``cuda`` each timed call ends with a synchronisation and the
    peak CUDA memory is recorded. ``None``: the factory takes no device (CPU-only work).

    ``threads`` sets torch's intra-op threads and the usual OpenMP/BLAS environment
    variables. ``memory_limit_mb`` caps the child's address space (a case that needs more
    fails with an error instead of pushing a shared machine into swap or the OOM killer).
    Errors (exception, timeout, memory cap) are returned in ``Measurement.error``; the
    harness itself does not raise for them.
    """
    name = name or target
    spec = {"target": target, "seconds": seconds, "threads": threads, "repeats": repeats,
            "warmup": warmup, "kwargs": kwargs or {}, "device": device}
    env = dict(os.environ)
    for var in _THREAD_VARS:
        env[var] = str(threads)
    # The child must import the same sonomorph as the parent, even from a source checkout.
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    cmd = [python or sys.executable, "-m", "sonomorph.eval.bench", "--worker", json.dumps(spec)]
    result = Measurement(name=name, seconds=float(seconds), threads=int(threads),
                         device=device or "cpu")
    try:
        proc = subprocess.run(
            cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout,
            preexec_fn=_limit_memory(memory_limit_mb) if memory_limit_mb else None,
        )
    except subprocess.TimeoutExpired:
        result.error = f"timed out after {timeout:g} s"
        return result
    record = None
    for line in proc.stdout.splitlines():
        if line.startswith(_RESULT_TAG):
            record = json.loads(line[len(_RESULT_TAG):])
    if proc.returncode != 0 or record is None:
        tail = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
        if proc.returncode < 0:
            tail = f"killed by signal {-proc.returncode}"
        if memory_limit_mb and ("MemoryError" in proc.stderr or "alloc" in proc.stderr.lower()):
            tail = f"out of memory under a {memory_limit_mb} MB cap ({tail})"
        result.error = tail[:300]
        return result
    result.times = [float(t) for t in record["times"]]
    result.cpu_times = [float(t) for t in record.get("cpu_times", [])]
    result.peak_rss_mb = float(record["peak_rss_mb"])
    if record.get("load") and None not in record["load"]:
        result.load = (float(record["load"][0]), float(record["load"][1]))
    result.device_name = record.get("device_name")
    if record.get("peak_device_mb") is not None:
        result.peak_device_mb = float(record["peak_device_mb"])
    return result


# ----------------------------------------------------------------------------- --device


def add_device_option(parser: argparse.ArgumentParser) -> None:
    """Every benchmark's ``--device``: where the models run (default ``cpu``, the figures
    the model cards quote; ``auto`` takes a CUDA GPU when torch sees one)."""
    from sonomorph.utils.device import DEVICES

    parser.add_argument("--device", choices=DEVICES, default="cpu",
                        help="run the models on the CPU (default), a CUDA GPU, or the GPU "
                        "when there is one (auto); recorded with every row")


def parse_args(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None
               ) -> argparse.Namespace:
    """``parser.parse_args`` with ``--device`` resolved to ``"cpu"`` or ``"cuda"``;
    ``--device cuda`` without CUDA is one line on stderr and exit status 2."""
    from sonomorph.errors import ConfigError
    from sonomorph.utils.device import resolve_device

    args = parser.parse_args(argv)
    try:
        args.device = resolve_device(args.device)
    except ConfigError as exc:
        parser.exit(2, f"{parser.prog}: error: {exc}\n")
    return args


def speed(target: str, *, seconds: float, threads: Sequence[int] = (1, 2), repeats: int = 3,
          **options: Any) -> list[Measurement]:
    """Real-time factors with each thread count (one subprocess per count)."""
    return [run_case(target, seconds=seconds, threads=n, repeats=repeats, **options)
            for n in threads]


def merge(parts: Sequence[Measurement], name: str | None = None) -> Measurement:
    """One measurement of a setting run in several processes: all their timed calls (so
    the median is over every call), the highest peak memory, the load before the first
    and after the last, the first error; ``note`` says how many processes."""
    if not parts:
        raise ValueError("merge needs at least one measurement")
    first = parts[0]
    out = Measurement(name=name or first.name, seconds=first.seconds, threads=first.threads,
                      device=first.device, device_name=first.device_name)
    for m in parts:
        out.times += m.times
        out.cpu_times += m.cpu_times
        out.error = out.error or m.error
        out.device_name = out.device_name or m.device_name
    peaks = [m.peak_rss_mb for m in parts if m.peak_rss_mb is not None]
    out.peak_rss_mb = max(peaks) if peaks else None
    device_peaks = [m.peak_device_mb for m in parts if m.peak_device_mb is not None]
    out.peak_device_mb = max(device_peaks) if device_peaks else None
    loads = [m.load for m in parts if m.load is not None]
    out.load = (loads[0][0], loads[-1][1]) if loads else None
    out.note = "; ".join(x for x in (f"{len(parts)} processes", first.note) if x)
    return out


def side_by_side(cases: Mapping[str, Mapping[str, Any]], *, rounds: int = 3,
                 **options: Any) -> dict[str, Measurement]:
    """Several cases measured in turn, ``rounds`` times over, each run in a fresh
    subprocess, so that a change in a shared machine's load falls on all of them alike and
    their ratios stay meaningful. ``cases`` maps a name to :func:`run_case` arguments
    (``target`` and any of its options, e.g. ``seconds`` or ``kwargs``) over the shared
    ``options``; each round starts one case later than the previous one. Each case's runs
    are merged (:func:`merge`)."""
    names = list(cases)
    if not names:
        return {}
    parts: dict[str, list[Measurement]] = {n: [] for n in names}
    for r in range(max(1, int(rounds))):
        for n in names[r % len(names):] + names[:r % len(names)]:
            args = {**options, **cases[n]}
            parts[n].append(run_case(args.pop("target"), name=n, **args))
    return {n: merge(parts[n], n) for n in names}


def memory_growth(target: str, lengths_s: Sequence[float], *, threads: int = 1,
                  **options: Any) -> list[Measurement]:
    """Peak memory for each input length, one fresh subprocess per length, one timed run
    each (no warm-up, so the peak is that of a single real use)."""
    options.setdefault("repeats", 1)
    options.setdefault("warmup", 0)
    return [run_case(target, seconds=s, threads=threads, **options) for s in lengths_s]


def growth_mb_per_minute(rows: Sequence[Measurement]) -> float | None:
    """Least-squares slope of peak memory against input length, in MiB per minute of audio
    (near 0 for constant-memory processing)."""
    pts = [(m.seconds / 60.0, m.peak_rss_mb) for m in rows if m.peak_rss_mb is not None]
    if len(pts) < 2:
        return None
    mx = sum(x for x, _ in pts) / len(pts)
    my = sum(y for _, y in pts) / len(pts)
    den = sum((x - mx) ** 2 for x, _ in pts)
    return sum((x - mx) * (y - my) for x, y in pts) / den if den else None


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub markdown table; floats are shown with 3 significant figures."""

    def cell(v: object) -> str:
        if v is None:
            return "–"
        if isinstance(v, float):
            return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"
        return str(v).replace("|", "\\|")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="benchmark worker (used by run_case)")
    parser.add_argument("--worker", required=True, help="JSON settings")
    args = parser.parse_args(argv)
    record = _worker(json.loads(args.worker))
    sys.stdout.flush()
    print(_RESULT_TAG + json.dumps(record), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(_main())
