"""PNG plots for the demos (matplotlib, optional: `pip install matplotlib`), written only when a demo is
given a directory to write them to."""

from __future__ import annotations

import os


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only, no display needed
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise ImportError("the demos' plots need matplotlib: pip install matplotlib") from err
    return plt


def add_loss_curve(result, history, plot_dir, name, *also):
    """With a plot_dir, writes `name`_loss.png (and the paths in `also`, already written) into
    result["plots"] and says so; the demos' common ending."""
    if plot_dir is None:
        return result
    result["plots"] = [
        *also,
        loss_curve(history, os.path.join(plot_dir, f"{name}_loss.png"), f"{name}: training loss"),
    ]
    print("  plots:", ", ".join(result["plots"]))
    return result


def loss_curve(history, path, title):
    """The training (and validation) loss per epoch, log scale."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for key, values in history.items():
        ax.plot(range(1, len(values) + 1), values, label=key)
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.fspath(path), dpi=100)
    plt.close(fig)
    return path


def forecast(truth, prediction, baseline, path, title, points=200):
    """The last `points` values of the truth, the forecast and the baseline."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 3.5))
    ax.plot(truth[-points:], label="truth", color="black", linewidth=1)
    ax.plot(prediction[-points:], label="LSTM forecast", linewidth=1)
    ax.plot(baseline[-points:], label="persistence", linewidth=1, alpha=0.6)
    ax.set_xlabel("hour (test period)")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.fspath(path), dpi=100)
    plt.close(fig)
    return path
