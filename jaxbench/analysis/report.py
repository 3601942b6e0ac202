"""The self-contained HTML report: every table and figure of the analyses, figures embedded.

`write_report(results, out_dir, reference=None)` reads the trees, writes tables (md/csv/tex) and
figures (png/svg) under `out_dir`, and `out_dir/report.html`, which needs no network: figures
are inline base64 PNGs. A script in the page sets `data-figures-loaded` on <body> once every
image has decoded (naturalWidth > 0); the render test reads it from headless Chromium's DOM.
"""
from __future__ import annotations

import base64
import html as html_lib
import os
from typing import Optional, Sequence, Union

import pandas as pd

from jaxbench.analysis import figures, reader, stats, tables

PathLike = Union[str, os.PathLike]

_STYLE = """
body { font-family: sans-serif; max-width: 1250px; margin: 1em auto; color: #222; }
h1 { border-bottom: 2px solid #444; } h2 { border-bottom: 1px solid #bbb; margin-top: 2em; }
table.table { border-collapse: collapse; font-size: 12px; margin: 0.5em 0; }
table.table th, table.table td { padding: 2px 8px; border-bottom: 1px solid #ddd; }
table.table th { background: #f0f0f0; }
img { max-width: 100%; border: 1px solid #eee; margin: 4px 0; }
.supported { color: #1a7f37; font-weight: bold; } .not { color: #b42318; font-weight: bold; }
.untestable { color: #777; font-weight: bold; } .note { color: #555; font-size: 13px; }
"""
_SCRIPT = """
function markLoaded() {
  const images = Array.from(document.images);
  const ok = images.every(i => i.complete && i.naturalWidth > 0);
  document.body.setAttribute('data-figures-loaded', ok ? 'all' : 'missing');
  document.body.setAttribute('data-figure-count', String(images.length));
}
window.addEventListener('load', markLoaded);
"""


class _Page:
  def __init__(self, out_dir: str):
    self.out_dir, self.parts, self.figure_count = out_dir, [], 0

  def add(self, text: str) -> None:
    self.parts.append(text)

  def heading(self, text: str, level: int = 2) -> None:
    self.add(f"<h{level}>{html_lib.escape(text)}</h{level}>")

  def para(self, text: str, cls: str = "note") -> None:
    self.add(f'<p class="{cls}">{html_lib.escape(text)}</p>')

  def table(self, table: pd.DataFrame, name: Optional[str] = None) -> None:
    if name:
      tables.write(table, os.path.join(self.out_dir, "tables"), name)
    self.add(tables.html(table))

  def figure(self, figure, name: str) -> None:
    data = figures.save(figure, os.path.join(self.out_dir, "figures"), name)
    encoded = base64.b64encode(data["png"]).decode("ascii")
    self.figure_count += 1
    self.add(f'<img alt="{html_lib.escape(name)}" src="data:image/png;base64,{encoded}">')


def _safe(text: str) -> str:
  return "".join(c if c.isalnum() or c in "-_" else "_" for c in text)


def _format_hps(hps: dict) -> str:
  return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                   for k, v in sorted(hps.items()))


def analyse(results: Union[PathLike, Sequence[PathLike]],
            reference: Optional[Union[PathLike, Sequence[PathLike]]] = None) -> dict:
  """Everything the report shows, as DataFrames (also for users' own use)."""
  tree = reader.read_tree(results, source="ours")
  out = {"tree": tree, "reference": None}
  if reference is not None:
    ref = reader.read_tree(reference, source="reference")
    out["reference"] = ref
    runs = pd.concat([tree.runs, ref.runs.assign(run_id=ref.runs["run_id"] + len(tree.runs))],
                     ignore_index=True)
    ref_epochs = ref.epochs.assign(run_id=ref.epochs["run_id"] + len(tree.runs))
    epochs = pd.concat([tree.epochs, ref_epochs], ignore_index=True)
  else:
    runs, epochs = tree.runs, tree.epochs
  chosen = stats.selected(runs)
  table = stats.final_table(chosen)
  out.update(runs=runs, epochs=epochs, chosen=chosen, table=table,
             ranking=stats.ranking(chosen))
  ours_table = table[table["source"] == "ours"]
  out["times"] = stats.time_to_target(chosen, epochs)
  out["profile"] = stats.performance_profile(out["times"])
  out["conclusions"] = stats.conclusions(ours_table, out["ranking"][out["ranking"]["source"]
                                                                    == "ours"])
  if reference is not None:
    out["comparison"] = stats.compare(ours_table, table[table["source"] == "reference"])
  return out


def write_report(results: Union[PathLike, Sequence[PathLike]], out_dir: PathLike,
                 reference: Optional[Union[PathLike, Sequence[PathLike]]] = None) -> str:
  """Reads `results` (and `reference`), writes tables, figures and report.html; returns its path."""
  out_dir = os.fspath(out_dir)
  data = analyse(results, reference)
  page = _Page(out_dir)
  tree, table, chosen = data["tree"], data["table"], data["chosen"]
  ours = table[table["source"] == "ours"]
  page.heading("jaxbench report", 1)
  page.para(f"{len(tree.runs)} runs read from {results}"
            + (f"; reference: {len(data['reference'].runs)} runs from {reference}"
               if reference is not None else "")
            + f"; {len(tree.problems)} data problem(s).")

  page.heading("Summary: the paper's conclusions on these results")
  for item in data["conclusions"]:
    cls = {"supported": "supported", "not supported": "not"}.get(item["verdict"], "untestable")
    page.add(f'<p><b>{html_lib.escape(item["claim"])}</b>: <span class="{cls}">'
             f'{html_lib.escape(item["verdict"])}</span> — {html_lib.escape(item["evidence"])}</p>')
  page.para("Scores: test accuracy where records carry it, else test loss (lower is better). "
            "Spread: population std over seeds; diverged runs are counted and left out of "
            f"means. Ranking intervals: bootstrap over seeds, {stats.BOOTSTRAP_SAMPLES} "
            f"resamples, RNG seed {stats.BOOTSTRAP_SEED}.")

  page.heading("1. Final test metric per configuration")
  page.table(ours.drop(columns=["source", "higher_is_better"]), "final_metric")
  for (problem, instance), _ in ours.groupby(["problem", "instance"]):
    page.figure(figures.final_metric(table, problem, instance),
                _safe(f"final_{problem}_{instance}"))

  page.heading("Selected configurations and their settings")
  settings = chosen[chosen["source"] == "ours"].drop_duplicates(stats.CONFIG)
  page.table(settings.assign(hyperparameters=settings["hyperparams"].map(_format_hps))[
      ["problem", "instance", "optimizer", "schedule", "budget", "setting", "hyperparameters",
       "weight_decay"]], "selected_settings")

  page.heading("2. Improvement from tuning (tuned minus one-shot, oriented: > 0 helps)")
  budgets = [b for b in sorted(set(ours["budget"])) if b != "oneshot"]
  for budget in budgets:
    matrix = stats.tuning_gain(ours, budget)
    if matrix.empty:
      continue
    page.table(matrix.reset_index(), f"tuning_gain_{budget}")
    page.figure(figures.heatmap(matrix, f"tuning gain, {budget}, constant schedule"),
                f"heatmap_{budget}")
  if not budgets:
    page.para("No tuned budget in these results (only one-shot runs).")

  page.heading("3. Several optimizers at their defaults vs one tuned")
  n_one = ours[ours["budget"] == "oneshot"].groupby(["problem", "instance"])["optimizer"].nunique()
  for budget in budgets:
    for (problem, instance), n in n_one.items():
      subsets = pd.concat([stats.best_of_k(ours[ours["problem"] == problem], k)
                           for k in range(1, n + 1)], ignore_index=True)
      tuned = ours[(ours["problem"] == problem) & (ours["budget"] == budget)
                   & (ours["schedule"] == "constant")]
      if len(subsets) and len(tuned):
        page.figure(figures.best_of_k(subsets, tuned, problem), _safe(f"bestofk_{problem}_{budget}"))
    summary = pd.concat([stats.defaults_vs_tuned(ours, budget, k)
                         for k in range(1, int(n_one.max()) + 1)] if len(n_one) else [],
                        ignore_index=True) if len(n_one) else pd.DataFrame()
    if len(summary):
      page.table(summary, f"defaults_vs_tuned_{budget}")

  page.heading("4. Performance versus budget (best so far over search trials)")
  curves = stats.best_so_far(data["runs"][data["runs"]["source"] == "ours"])
  if len(curves):
    for (problem, budget), group in curves.groupby(["problem", "budget"]):
      page.figure(figures.best_so_far(group, problem), _safe(f"bestsofar_{problem}_{budget}"))
  else:
    page.para("No search trials in these results.")

  page.heading("5. Sensitivity to the tuned hyperparameters")
  searched = data["runs"][(data["runs"]["source"] == "ours")
                          & (data["runs"]["budget"] != "oneshot")]
  for problem, group in searched.groupby("problem"):
    page.figure(figures.sensitivity(group, problem), _safe(f"sensitivity_{problem}"))
  if searched.empty:
    page.para("No tuned runs in these results.")

  page.heading("6. Learning curves of the selected configurations")
  epochs = data["epochs"]
  for problem, group in epochs[epochs["run_id"].isin(chosen["run_id"])
                               & (epochs["source"] == "ours")].groupby("problem"):
    page.figure(figures.learning_curves(group, problem), _safe(f"curves_{problem}"))

  page.heading("7. Ranking with bootstrap confidence intervals")
  ranks = data["ranking"]
  page.table(ranks[ranks["source"] == "ours"].drop(columns="source"), "ranking")

  page.heading("8. Speed: time to target and performance profiles")
  page.para("Target per problem: the best one-shot configuration's final seed-mean validation "
            "metric. Epochs to target: the first epoch at which a configuration's seed-mean "
            "validation metric reaches it (inf: never); seconds from our records' "
            "epoch_wall_seconds.")
  times = data["times"]
  page.table(times[times["source"] == "ours"].drop(columns="source"), "time_to_target")
  profile = data["profile"]
  if len(profile):
    for key, group in profile.groupby(level=[0, 1, 2]):
      if key[0] != "ours":
        continue
      page.figure(figures.performance_profile(group.droplevel([0, 1, 2]),
                                              f"performance profile, {key[2]}, {key[1]}"),
                  _safe(f"profile_{key[2]}_{key[1]}"))

  if reference is not None:
    page.heading("Comparison with the reference results")
    page.para("Configurations present in both (same problem instance: quadratic_deep runs are "
              "paired only on the same Hessian draw). Within the seed spread: |difference| <= "
              "sqrt(std_ours^2 + std_ref^2).")
    page.table(data["comparison"], "comparison")
    for (problem, instance), _ in data["comparison"].groupby(["problem", "instance"]):
      page.figure(figures.final_metric(table, problem, instance),
                  _safe(f"compare_{problem}_{instance}"))

  page.heading("Optimizer names used for published class names")
  mapping = pd.concat([tree.name_mapping] + ([data["reference"].name_mapping]
                                             if reference is not None else []))
  page.table(mapping) if len(mapping) else page.para("None: every record used registry names.")

  page.heading("Data problems")
  problems = pd.concat([tree.problems] + ([data["reference"].problems]
                                          if reference is not None else []))
  page.table(problems, "data_problems") if len(problems) else page.para("None.")

  path = os.path.join(out_dir, "report.html")
  with open(path, "w", encoding="utf-8") as f:
    f.write(f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>jaxbench report</title>"
            f"<style>{_STYLE}</style><script>{_SCRIPT}</script></head><body>"
            + "\n".join(page.parts) + "</body></html>\n")
  return path


__all__ = ["analyse", "write_report"]
