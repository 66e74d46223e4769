"""The writers of benchmarks/compare.py: the markdown report (header, one table per cell and mode, the
targets of docs/benchmarks.md evaluated, the kept profile notes) and the PNG plot."""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from compare_busy import busy_section, evaluate_busy_target
from compare_common import (
    EXTRA_SHAPES,
    REFERENCE_LIMIT_S,
    SHAPES,
    cell_text,
    cpu_model,
    gflops,
    log,
    machine_line,
    ratio_text,
    speedup,
    versions,
)
from compare_peak import PEAK_CALL_S, PEAK_CALLS, PEAK_SETTLE_S, peak_line
from compare_reduced import reduced_section

import fusedrnn as fr
from fusedrnn._timing import GATES, GRID, MIN_CALLS, MODES, REPEATS, SETTLE_S, UNSTABLE_SPREAD

COLORS = {"fusedrnn": "C0", "torch": "C1", "onnxruntime": "C2", "reference": "C3"}  # same in every panel


PROFILE_HEADING = "## Profile notes"


PROFILE_PLACEHOLDER = (
    f"{PROFILE_HEADING}\n\n"
    "_To be filled in by hand: where the time goes (perf / VTune), per shape that misses a target. "
    "This section is kept as it is when compare.py rewrites the file._\n"
)


def peak_text(g, peak):
    """GF/s as % of the all-thread FMA peak ("" without one of them)."""
    return "" if g is None or peak is None else f"{100 * peak.fraction(g):.1f}"


def shown(contenders, mode):
    """The contenders that have a column (and bars) in `mode`: onnxruntime runs inference only."""
    return [c for c in contenders if mode == "forward" or c != "onnxruntime"]


def table(results, cell, mode):
    others = [c for c in shown(results.contenders, mode) if c != "fusedrnn"]
    short = {"torch": "torch", "onnxruntime": "ort", "reference": "reference"}
    header = ["shape", "T", "N", "C", "H", "fusedrnn ms", "GF/s", "% peak"]
    for name in others:
        header += (
            [f"{name} ms"] + (["GF/s", "% peak"] if name == "torch" else []) + [f"speed-up vs {short[name]}"]
        )
    header.append("max \\|Δy\\| vs torch")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for shape in (SHAPES[s] for s in results.shapes):
        row = results.times.get((cell, mode, shape.name))
        if row is None:
            continue
        cells = [shape.name, shape.T, shape.N, shape.C, shape.H, cell_text(row["fusedrnn"])]
        g = gflops(row, "fusedrnn", cell, shape, mode)
        cells += [f"{g:.1f}", peak_text(g, results.peak)]
        for name in others:
            cells.append(cell_text(row[name]))
            if name == "torch":
                g = gflops(row, name, cell, shape, mode)
                cells += ["" if g is None else f"{g:.1f}", peak_text(g, results.peak)]
            cells.append(ratio_text(speedup(row, name)))
        diff = results.diffs.get((cell, shape.name))
        cells.append("n/a" if diff is None else f"{diff:.1e}")
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    if mode != "forward" and "onnxruntime" in results.contenders:
        lines.append("\nonnxruntime runs inference only, so it is not in the training tables.")
    return "\n".join(lines)


@dataclass(frozen=True)
class Target:
    """One target of docs/benchmarks.md: metric(cell, mode, shape) compared with `required`."""

    title: str
    cells: tuple
    modes: tuple
    shapes: tuple | None  # None: every shape of the grid
    # "speedup" (torch / fusedrnn), "peak" (fusedrnn's GF/s / the all-thread FMA peak) or "us"
    # (fusedrnn per call)
    metric: str
    required: float

    def met(self, value):
        return value <= self.required if self.metric == "us" else value >= self.required

    def describe(self, value):
        if self.metric == "peak":
            return f"{100 * value:.1f} %", f"≥ {100 * self.required:g} %"
        unit = {"speedup": "×", "us": " µs"}[self.metric]
        sign = "≤" if self.metric == "us" else "≥"
        return f"{value:.2f}{unit}", f"{sign} {self.required:g}{unit}"


TARGETS = (
    Target(
        "LSTM forward ≥ 1.05× faster than PyTorch on every shape",
        ("lstm",),
        ("forward",),
        None,
        "speedup",
        1.05,
    ),
    Target(
        "LSTM forward ≥ 88 % of the measured FMA peak on medium and large",
        ("lstm",),
        ("forward",),
        ("medium", "large"),
        "peak",
        0.88,
    ),
    Target(
        "LSTM training step ≥ 1.15× faster than PyTorch on every shape",
        ("lstm",),
        ("training",),
        None,
        "speedup",
        1.15,
    ),
    Target(
        "LSTM training step ≥ 80 % of the measured FMA peak on medium and large",
        ("lstm",),
        ("training",),
        ("medium", "large"),
        "peak",
        0.80,
    ),
    Target(
        "GRU and RNN forward and training ≥ 2.5× faster than PyTorch on keras-seed, energy, stream-b1",
        ("gru", "rnn"),
        MODES,
        ("keras-seed", "energy", "stream-b1"),
        "speedup",
        2.5,
    ),
    Target(
        "GRU and RNN forward and training ≥ 1.5× faster than PyTorch on mnist-row, char-lstm",
        ("gru", "rnn"),
        MODES,
        ("mnist-row", "char-lstm"),
        "speedup",
        1.5,
    ),
    Target(
        "GRU and RNN forward and training ≥ 85 % of the measured FMA peak on medium and large",
        ("gru", "rnn"),
        MODES,
        ("medium", "large"),
        "peak",
        0.85,
    ),
    Target("keras-seed forward ≤ 5 µs per call", tuple(GATES), ("forward",), ("keras-seed",), "us", 5.0),
)


def target_value(target, row, cell, shape, mode, peak):
    if target.metric == "speedup":
        return speedup(row, "torch")
    if target.metric == "peak":
        return None if peak is None else peak.fraction(gflops(row, "fusedrnn", cell, shape, mode))
    return row["fusedrnn"].seconds * 1e6


def evaluate_target(target, results):
    """Markdown for one target: a verdict line and one row per measured case."""
    rows, verdicts = [], []
    for cell in target.cells:
        for mode in target.modes:
            for name in target.shapes or tuple(s.name for s in GRID):
                row = results.times.get((cell, mode, name))
                if row is None:
                    continue
                value = target_value(target, row, cell, SHAPES[name], mode, results.peak)
                case = f"| {cell.upper()} | {mode} | {name} |"
                if value is None:
                    missing = "no FMA peak" if target.metric == "peak" else "no torch time"
                    rows.append(f"{case} n/a | | not evaluated ({missing}) |")
                    continue
                measured, required = target.describe(value)
                verdict = "met" if target.met(value) else "**NOT MET**"
                verdicts.append(target.met(value))
                rows.append(f"{case} {measured} | {required} | {verdict} |")
    if not rows:
        return f"### {target.title}\n\nNot measured in this run (needs {describe_scope(target)})."
    if not verdicts:
        summary = "not evaluated"
    elif all(verdicts):
        summary = f"**met** ({len(verdicts)} of {len(verdicts)} cases)"
    else:
        summary = f"**NOT MET** ({verdicts.count(False)} of {len(verdicts)} cases)"
    header = "| cell | mode | shape | measured | required | status |\n|---|---|---|---|---|---|"
    return f"### {target.title}\n\nOverall: {summary}.\n\n{header}\n" + "\n".join(rows)


def describe_scope(target):
    shapes = ", ".join(target.shapes) if target.shapes else "any grid shape"
    return f"{'/'.join(c.upper() for c in target.cells)} {' and '.join(target.modes)} on {shapes}"


def stacks_text():
    """How the shapes beyond the grid differ from it (for the header)."""
    return "; ".join(
        f"{s.name}: a {s.num_layers}-layer{' bidirectional' if s.bidirectional else ''} stack with "
        f"T={s.T}, N={s.N}, C={s.C}, H={s.H}"
        for s in EXTRA_SHAPES
    )


def header(args, threads, started, wall_s, load, peak):
    command = "python " + shlex.join(sys.argv)
    return "\n".join(
        [
            "# fusedrnn benchmark results",
            "",
            f"- Date: {started:%Y-%m-%d %H:%M:%S %Z}".rstrip(),
            f"- Machine: {machine_line(threads)}",
            f"- Threads: {threads} for every contender (fusedrnn.get_num_threads(); torch.set_num_threads; "
            "onnxruntime intra_op_num_threads)",
            f"- FMA peak {peak_line(peak)}",
            f"- Versions: {versions()}",
            f"- Command: `{command}`",
            f"- Run time of the grid: {wall_s:.0f} s; load averages (1, 5, 15 min) at start {load[0]}, "
            f"at end {load[1]}",
            "",
            "Median wall time per call of one fp32 layer, single-layer and unidirectional on the benchmark "
            f"grid ({stacks_text()}), contenders timed in "
            f"round robin (turns of ≥ {args.slice_ms:g} ms, each contender ≥ {args.min_time:g} s and "
            f"≥ {MIN_CALLS} calls). forward = inference; training = forward + backward of (y·dy).sum() "
            "w.r.t. x and all parameters. GF/s counts GEMM flops: forward 2·T·N·G·H·(C+H) "
            "(G = 4 LSTM, 3 GRU, 1 RNN), training 3× that; a stack of L layers and D directions sums "
            "2·T·N·G·H·D·(C_l+H) over its layers (C_0 = C, C_l = D·H). % peak = GF/s / the FMA peak "
            f"on {threads} threads above: float32 GF/s of independent FMA chains with the active ISA "
            f"(fusedrnn._core._fma_peak_gflops), measured at the start after a {PEAK_SETTLE_S:g} s pause, "
            f"the median of {PEAK_CALLS} calls of about {PEAK_CALL_S:g} s each per thread count. "
            "speed-up vs X = X's time / fusedrnn's time. "
            f"The NumPy reference is skipped where a call would take more than {REFERENCE_LIMIT_S:g} s. "
            f"† marks an unstable median (the medians of {REPEATS} consecutive groups of turns differ by "
            f"more than {UNSTABLE_SPREAD:g}×, the slowest / the fastest): on a 2-core machine another busy "
            "process stalls the OpenMP barriers of every contender, so rerun such rows on a quiet machine. "
            "Each turn starts after a "
            f"{SETTLE_S * 1000:g} ms pause with one untimed call; onnxruntime runs with "
            "session.intra_op.allow_spinning=0 and the reference's OpenBLAS with one thread, because "
            "their spinning workers otherwise slow whichever contender runs next on 2 cores.",
        ]
    )


def profile_notes(path):
    """The existing '## Profile notes' section (to the end of the file), or the placeholder."""
    if path.exists():
        text = path.read_text(encoding="utf-8")
        for line_start in _line_starts(text):
            if text.startswith(PROFILE_HEADING, line_start):
                return text[line_start:].rstrip() + "\n"
    return PROFILE_PLACEHOLDER


def _line_starts(text):
    yield 0
    index = text.find("\n")
    while index != -1:
        yield index + 1
        index = text.find("\n", index + 1)


def report(results, args, threads, started, wall_s, load):
    parts = [header(args, threads, started, wall_s, load, results.peak)]
    for cell in results.cells:
        for mode in results.modes:
            parts.append(f"## {cell.upper()} {mode}\n\n{table(results, cell, mode)}")
    if results.busy is not None:
        parts.append(busy_section(results.busy))
    parts.append(
        "## Targets\n\nThose of docs/benchmarks.md, evaluated from the numbers above "
        "(speed-ups are torch's time / fusedrnn's time; % of peak is fusedrnn's GF/s / the all-thread "
        "FMA peak). Not evaluated here: memory."
    )
    parts += [evaluate_target(t, results) for t in TARGETS]
    parts.append(evaluate_busy_target(results.busy))
    if results.reduced is not None:
        parts.append(reduced_section(results.reduced))
    parts.append(profile_notes(Path(args.out)))
    return "\n\n".join(p.rstrip("\n") for p in parts) + "\n"


def plot(results, path, threads):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("matplotlib is not installed: no plot")
        return
    rows, cols = len(results.cells), len(results.modes)
    fig, axes = plt.subplots(rows, cols, figsize=(6.5 * cols, 3.8 * rows), squeeze=False)
    names = results.shapes
    panels = [
        (r, c, cell, mode) for r, cell in enumerate(results.cells) for c, mode in enumerate(results.modes)
    ]
    for r, c, cell, mode in panels:
        ax = axes[r][c]
        contenders = shown(results.contenders, mode)
        width = 0.8 / len(contenders)
        for k, name in enumerate(contenders):
            offset = (k - (len(contenders) - 1) / 2) * width
            bars = [
                (i + offset, gflops(results.times[cell, mode, s], name, cell, SHAPES[s], mode))
                for i, s in enumerate(names)
            ]
            bars = [(x, g) for x, g in bars if g]  # skipped / unavailable: no bar
            ax.bar([x for x, _ in bars], [g for _, g in bars], width, label=name, color=COLORS[name])
        if results.peak is not None:
            ax.axhline(
                results.peak.all_threads,
                color="k",
                linestyle="--",
                linewidth=0.8,
                label=f"FMA peak, {results.peak.threads} threads",
            )
        ax.set_yscale("log")
        ax.set_xticks(range(len(names)), names, rotation=20, fontsize=8)
        ax.set_ylabel("GF/s (GEMM flops)")
        ax.set_title(f"{cell.upper()} {mode}")
        ax.grid(axis="y", which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"fusedrnn vs others: {cpu_model()}, {threads} threads, isa {fr.cpu_info().get('isa')}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    log(f"wrote {path}")
