"""Matplotlib figures of the analyses; each returns a Figure, `save` writes PNG and SVG."""
from __future__ import annotations

import io
import os

import matplotlib

matplotlib.use("Agg")  # files only; never a window
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.colors import TwoSlopeNorm  # noqa: E402

from jaxbench.analysis import stats  # noqa: E402


def save(figure, out_dir: str, name: str) -> dict[str, bytes]:
  """Writes <name>.png and <name>.svg; returns both as bytes for embedding."""
  os.makedirs(out_dir, exist_ok=True)
  out = {}
  for fmt in ("png", "svg"):
    buffer = io.BytesIO()
    figure.savefig(buffer, format=fmt, dpi=110, bbox_inches="tight")
    out[fmt] = buffer.getvalue()
    with open(os.path.join(out_dir, f"{name}.{fmt}"), "wb") as f:
      f.write(out[fmt])
  plt.close(figure)
  return out


def _label(problem: str, instance: str) -> str:
  return f"{problem} ({instance})" if instance and instance != "draw 0" else problem


def final_metric(table: pd.DataFrame, problem: str, instance: str):
  """Analysis 1: mean ± std of the final test metric per optimizer, one marker per budget."""
  rows = table[(table["problem"] == problem) & (table["instance"] == instance)]
  names = sorted(rows["optimizer"].unique())
  figure, ax = plt.subplots(figsize=(max(5, 0.6 * len(names) + 2), 3.2))
  groups = list(rows.groupby(["source", "budget", "schedule"]))
  for i, ((source, budget, schedule), group) in enumerate(groups):
    x = np.array([names.index(n) for n in group["optimizer"]]) + (i - len(groups) / 2) * 0.08
    ax.errorbar(x, group["mean"], yerr=group["std"], fmt="o", ms=4, capsize=2,
                label=f"{os.path.basename(str(source).rstrip('/'))}: {budget}, {schedule}")
  ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
  ax.set_ylabel(f"final test {rows['metric'].iloc[0]}")
  ax.set_title(_label(problem, instance))
  ax.legend(fontsize=7)
  return figure


def heatmap(matrix: pd.DataFrame, title: str):
  """Analysis 2: tuned minus one-shot (oriented), diverging map centred at zero."""
  figure, ax = plt.subplots(figsize=(1.2 * matrix.shape[1] + 3, 0.4 * matrix.shape[0] + 1.5))
  values = matrix.to_numpy(float)
  # Columns (problems) have different scales: colour by each column's largest |gain|.
  scale = np.nanmax(np.abs(values), axis=0, keepdims=True)
  scale[~np.isfinite(scale) | (scale == 0)] = 1.0
  image = ax.imshow(values / scale, cmap="RdYlGn", norm=TwoSlopeNorm(0.0, -1.0, 1.0),
                    aspect="auto")
  for (i, j), value in np.ndenumerate(values):
    if np.isfinite(value):
      ax.text(j, i, f"{value:.3g}", ha="center", va="center", fontsize=7)
  ax.set_xticks(range(matrix.shape[1]), matrix.columns, rotation=30, ha="right")
  ax.set_yticks(range(matrix.shape[0]), matrix.index)
  ax.set_title(title)
  figure.colorbar(image, ax=ax, label="gain / column max |gain|")
  return figure


def best_of_k(subsets: pd.DataFrame, tuned: pd.DataFrame, problem: str):
  """Analysis 3: distribution of best-of-k at defaults (box per k) vs single tuned optimizers."""
  figure, ax = plt.subplots(figsize=(6, 3.2))
  ks = sorted(subsets["k"].unique())
  ax.boxplot([subsets[subsets["k"] == k]["best"] for k in ks], positions=ks, widths=0.5)
  for _, row in tuned.iterrows():
    ax.axhline(row["mean"], color="grey", lw=0.6)
    ax.text(ks[-1] + 0.4, row["mean"], row["optimizer"], fontsize=6, va="center")
  ax.set_xlabel("k optimizers at their defaults (best of them)")
  ax.set_ylabel("final test metric")
  ax.set_title(f"{problem}: best of k one-shot (boxes) vs one tuned (lines)")
  return figure


def best_so_far(curves: pd.DataFrame, problem: str):
  """Analysis 4: best-so-far validation and test metric over trials; median highlighted."""
  figure, axes = plt.subplots(1, 2, figsize=(9, 3))
  for ax, column, title in zip(axes, ("best_valid", "test_at_best"),
                               ("best validation so far", "test metric of that trial")):
    for _, group in curves.groupby("optimizer"):
      ax.plot(group["trial"], group[column], color="grey", lw=0.7, alpha=0.7)
    median = curves.groupby("trial")[column].median()
    ax.plot(median.index, median.values, color="C3", lw=2, label="median over optimizers")
    ax.set_xlabel("trials")
    ax.set_title(f"{problem}: {title}", fontsize=9)
    ax.legend(fontsize=7)
  return figure


def sensitivity(runs: pd.DataFrame, problem: str):
  """Analysis 5: final metric against each tuned hyperparameter, every run a point."""
  names = sorted({k for hps in runs["hyperparams"] for k, v in hps.items()
                  if isinstance(v, (int, float)) and not isinstance(v, bool)})
  names = [n for n in names
           if runs["hyperparams"].map(lambda h, n=n: h.get(n)).nunique() > 1] or names[:1]
  figure, axes = plt.subplots(1, max(1, len(names)), figsize=(3.2 * max(1, len(names)), 2.8),
                              squeeze=False)
  for ax, name in zip(axes[0], names):
    for optimizer, group in runs.groupby("optimizer"):
      x = group["hyperparams"].map(lambda h: h.get(name, np.nan)).astype(float)
      ax.scatter(x, group["final_test"], s=8, label=optimizer)
    x = runs["hyperparams"].map(lambda h: h.get(name, np.nan)).astype(float)
    if (x[np.isfinite(x)] > 0).all() and x.max() / max(x.min(), 1e-300) > 10:
      ax.set_xscale("log")
    ax.set_xlabel(name)
  axes[0][0].set_ylabel("final test metric")
  axes[0][0].legend(fontsize=6)
  figure.suptitle(f"{problem}: sensitivity", fontsize=9)
  return figure


def learning_curves(epochs: pd.DataFrame, problem: str):
  """Analysis 6: train/valid/test loss (and accuracy), seed mean with a min-max band."""
  kinds = ["losses"] + (["accuracies"] if epochs["test_accuracies"].notna().any() else [])
  figure, axes = plt.subplots(len(kinds), 3, figsize=(11, 2.6 * len(kinds)), squeeze=False)
  for row, kind in enumerate(kinds):
    for col, split in enumerate(("train", "valid", "test")):
      ax = axes[row][col]
      column = f"{split}_{kind}"
      for label, group in epochs.groupby(["optimizer", "budget", "schedule"]):
        stat = group.groupby("epoch")[column].agg(["mean", "min", "max"])
        line, = ax.plot(stat.index, stat["mean"], lw=1, label=" ".join(label))
        ax.fill_between(stat.index, stat["min"], stat["max"], color=line.get_color(), alpha=0.2)
      ax.set_title(f"{split} {kind}", fontsize=9)
      ax.set_xlabel("epoch")
  axes[0][0].legend(fontsize=6)
  figure.suptitle(problem, fontsize=10)
  return figure


def performance_profile(profile: pd.DataFrame, title: str):
  """Analysis 8: fraction of problems within tau of the fastest, per optimizer."""
  figure, ax = plt.subplots(figsize=(5, 3))
  for optimizer, row in profile.iterrows():
    ax.step(list(row.index), row.values, where="post", label=optimizer)
  ax.set_xscale("log")
  ax.set_xlabel("tau (time / fastest time)")
  ax.set_ylabel("fraction of problems")
  ax.set_ylim(-0.02, 1.02)
  ax.set_title(title, fontsize=9)
  ax.legend(fontsize=6)
  return figure


__all__ = ["save", "final_metric", "heatmap", "best_of_k", "best_so_far", "sensitivity",
           "learning_curves", "performance_profile", "stats"]
