"""The paper's analyses (SPEC section 6) and AlgoPerf-style speed, as pure functions of DataFrames.

Conventions (stated in the report):
- The reported metric is test accuracy where records carry accuracies, else test loss; a
  problem's "score" is that metric oriented so that higher is better (loss enters negated).
- Spread over seeds is the population standard deviation (ddof=0); diverged runs are counted
  and excluded from means.
- A configuration is one (source, problem, instance, optimizer, schedule, budget). Its selected
  setting: the settings of role 'rerun'/'oneshot' where records say so; else the settings with
  the most seeds (the protocol re-runs only the best trial); ties by best mean validation metric.
"""
from __future__ import annotations

import itertools
import math
from typing import Optional, Sequence

import numpy as np
import pandas as pd

CONFIG = ["source", "problem", "instance", "optimizer", "schedule", "budget"]
BOOTSTRAP_SEED = 0        # fixed RNG seed of every bootstrap and subset sample
BOOTSTRAP_SAMPLES = 2000
MAX_SUBSETS = 5000        # best-of-k: every subset when there are at most this many, else a sample


def oriented(values, higher_is_better) -> np.ndarray:
  """Metric -> score (higher is better)."""
  values = np.asarray(values, float)
  return np.where(np.asarray(higher_is_better, bool), values, -values)


def selected(runs: pd.DataFrame) -> pd.DataFrame:
  """The runs of each configuration's selected setting (see the module docstring)."""
  runs = runs.copy()
  runs["score_valid"] = oriented(runs["final_valid"], runs["higher_is_better"])
  if "selected" in runs and runs["selected"].notna().any():
    flagged = runs["selected"].fillna(False).astype(bool)
  elif "role" in runs and runs["role"].notna().any():
    flagged = runs["role"].isin(["rerun", "oneshot"])
  else:
    flagged = None
  if flagged is not None:
    chosen = runs.loc[flagged, CONFIG + ["setting"]].drop_duplicates()
    runs_roled = runs.merge(chosen, on=CONFIG + ["setting"])
    rest = runs[~runs.set_index(CONFIG).index.isin(chosen.set_index(CONFIG).index)]
  else:
    runs_roled, rest = runs.iloc[:0], runs
  per_setting = (rest.groupby(CONFIG + ["setting"], dropna=False)
                 .agg(seeds=("seed", "nunique"), valid=("score_valid", "mean")).reset_index())
  per_setting = per_setting.sort_values(["seeds", "valid"], ascending=[False, False],
                                        na_position="last")
  best = per_setting.drop_duplicates(CONFIG)[CONFIG + ["setting"]]
  out = pd.concat([runs_roled, rest.merge(best, on=CONFIG + ["setting"])], ignore_index=True)
  return out.drop(columns="score_valid")


def final_table(chosen: pd.DataFrame) -> pd.DataFrame:
  """Analysis 1: final test metric per configuration: seeds, mean, std (ddof=0), median."""
  def summary(group: pd.DataFrame) -> pd.Series:
    values = group["final_test"].to_numpy(float)
    finite = values[np.isfinite(values) & ~group["diverged"].to_numpy(bool)]
    return pd.Series({
        "metric": group["metric"].iloc[0], "setting": group["setting"].iloc[0],
        "seeds": len(group), "diverged": int(group["diverged"].sum()),
        "mean": finite.mean() if finite.size else np.nan,
        "std": finite.std() if finite.size else np.nan,
        "median": np.median(finite) if finite.size else np.nan,
        "higher_is_better": bool(group["higher_is_better"].iloc[0])})
  table = chosen.groupby(CONFIG, dropna=False).apply(summary, include_groups=False)
  return table.reset_index().sort_values(CONFIG).reset_index(drop=True)


def tuning_gain(table: pd.DataFrame, budget: str, schedule: str = "constant",
                baseline: str = "oneshot") -> pd.DataFrame:
  """Analysis 2: optimizer x problem matrix of tuned minus one-shot mean, oriented (> 0 helps)."""
  keys = ["source", "problem", "instance", "optimizer"]
  one = table[(table["budget"] == baseline) & (table["schedule"] == schedule)].set_index(keys)
  tuned = table[(table["budget"] == budget) & (table["schedule"] == schedule)].set_index(keys)
  both = one.merge(tuned, left_index=True, right_index=True, suffixes=("_one", "_tuned"))
  if both.empty:
    return pd.DataFrame()
  sign = np.where(both["higher_is_better_one"].astype(bool), 1.0, -1.0)
  gain = pd.Series(sign * (both["mean_tuned"] - both["mean_one"]), index=both.index)
  return gain.reset_index().pivot_table(index="optimizer", columns="problem", values=0,
                                        aggfunc="first")


def best_of_k(table: pd.DataFrame, k: int, schedule: str = "constant",
              baseline: str = "oneshot") -> pd.DataFrame:
  """Analysis 3: per problem, the best one-shot mean among k optimizers, over subsets.

  Every k-subset of the one-shot optimizers when there are at most MAX_SUBSETS of them, else
  MAX_SUBSETS random ones (RNG seed BOOTSTRAP_SEED). Returns one row per (problem, subset) with
  the oriented best score and the metric's value.
  """
  one = table[(table["budget"] == baseline) & (table["schedule"] == schedule)]
  rows = []
  rng = np.random.default_rng(BOOTSTRAP_SEED)
  for (problem, instance), group in one.groupby(["problem", "instance"]):
    names = group["optimizer"].to_numpy()
    scores = oriented(group["mean"], group["higher_is_better"])
    if k > len(names):
      continue
    if math.comb(len(names), k) <= MAX_SUBSETS:
      subsets = [list(c) for c in itertools.combinations(range(len(names)), k)]
    else:
      subsets = [list(rng.choice(len(names), k, replace=False)) for _ in range(MAX_SUBSETS)]
    sign = 1.0 if bool(group["higher_is_better"].iloc[0]) else -1.0
    for subset in subsets:
      best = float(np.nanmax(scores[subset]))
      rows.append({"problem": problem, "instance": instance, "k": k,
                   "subset": ",".join(names[subset]), "best_score": best, "best": sign * best})
  return pd.DataFrame(rows)


def defaults_vs_tuned(table: pd.DataFrame, budget: str, k: int, schedule: str = "constant"
                      ) -> pd.DataFrame:
  """Analysis 3 summarised per problem: median best-of-k at defaults vs each tuned optimizer.

  beaten_fraction = the fraction of tuned optimizers whose mean is no better than the median
  best-of-k one-shot result.
  """
  subsets = best_of_k(table, k, schedule)
  if subsets.empty:
    return pd.DataFrame()
  tuned = table[(table["budget"] == budget) & (table["schedule"] == schedule)]
  rows = []
  for (problem, instance), group in subsets.groupby(["problem", "instance"]):
    tuned_p = tuned[(tuned["problem"] == problem) & (tuned["instance"] == instance)]
    if tuned_p.empty:
      continue
    median = float(np.median(group["best_score"]))
    scores = oriented(tuned_p["mean"], tuned_p["higher_is_better"])
    sign = 1.0 if bool(tuned_p["higher_is_better"].iloc[0]) else -1.0
    rows.append({"problem": problem, "instance": instance, "k": k, "budget": budget,
                 "median_best_of_k": sign * median,
                 "q25_best_of_k": sign * float(np.quantile(group["best_score"], 0.25 if sign > 0
                                                           else 0.75)),
                 "median_tuned": sign * float(np.median(scores)),
                 "beaten_fraction": float(np.mean(scores <= median))})
  return pd.DataFrame(rows)


def best_so_far(runs: pd.DataFrame) -> pd.DataFrame:
  """Analysis 4: over search trials (seed-42 runs in trial order) of each tuned configuration,
  the best validation score so far and the test metric of that best-so-far trial."""
  trials = runs[runs["trial"].notna() & (runs["budget"] != "oneshot")
                & (runs["role"] != "rerun")].copy()
  trials = trials.sort_values(CONFIG + ["trial"])
  out = []
  for key, group in trials.groupby(CONFIG, sort=False):
    valid = oriented(group["final_valid"], group["higher_is_better"])
    valid = np.where(np.isfinite(valid), valid, -np.inf)
    best_index = np.array([int(np.argmax(valid[:i + 1])) for i in range(len(valid))])
    sign = 1.0 if bool(group["higher_is_better"].iloc[0]) else -1.0
    best_valid = np.maximum.accumulate(valid) * sign
    out.append(pd.DataFrame({
        **dict(zip(CONFIG, key)), "trial": np.arange(1, len(group) + 1),
        "best_valid": np.where(np.isfinite(best_valid), best_valid, np.nan),
        "test_at_best": group["final_test"].to_numpy(float)[best_index]}))
  return pd.concat(out, ignore_index=True) if out else pd.DataFrame()


def ranking(chosen: pd.DataFrame, samples: int = BOOTSTRAP_SAMPLES,
            seed: int = BOOTSTRAP_SEED) -> pd.DataFrame:
  """Analysis 7: per (source, problem, instance, schedule, budget), rank optimizers by mean
  final score; bootstrap over seeds (each optimizer's seeds resampled with replacement,
  `samples` times, RNG seed `seed`) gives a 95% percentile interval of each optimizer's
  difference to the best; an interval that reaches 0 = indistinguishable from the best."""
  rng = np.random.default_rng(seed)
  rows = []
  keys = ["source", "problem", "instance", "schedule", "budget"]
  for key, group in chosen.groupby(keys):
    scores = {}
    for name, runs_o in group.groupby("optimizer"):
      values = oriented(runs_o["final_test"], runs_o["higher_is_better"])
      values = values[np.isfinite(values) & ~runs_o["diverged"].to_numpy(bool)]
      if values.size:
        scores[name] = values
    if not scores:
      continue
    means = {n: v.mean() for n, v in scores.items()}
    best = max(means, key=means.get)
    boot = {n: rng.choice(v, (samples, v.size)).mean(axis=1) for n, v in scores.items()}
    order = sorted(means, key=means.get, reverse=True)
    sign = 1.0 if bool(group["higher_is_better"].iloc[0]) else -1.0
    for rank, name in enumerate(order, 1):
      diff = boot[name] - boot[best]
      low, high = np.quantile(diff, [0.025, 0.975])
      rows.append({**dict(zip(keys, key)), "rank": rank, "optimizer": name,
                   "mean": sign * means[name], "diff_to_best": means[name] - means[best],
                   "ci_low": float(low), "ci_high": float(high),
                   "tied_with_best": bool(name == best or high >= 0)})
  return pd.DataFrame(rows)


def targets(chosen: pd.DataFrame, epochs: pd.DataFrame, baseline: str = "oneshot"
            ) -> pd.DataFrame:
  """Per (source, problem, instance): the target = the best one-shot configuration's final
  seed-mean validation score (AlgoPerf uses a fixed per-workload target; this is the default)."""
  curves = mean_curves(chosen, epochs)
  last = curves[curves["epoch"] == curves.groupby(CONFIG)["epoch"].transform("max")]
  one = last[last["budget"] == baseline]
  best = one.groupby(["source", "problem", "instance"])["valid_score"].max()
  return best.rename("target_score").reset_index()


def mean_curves(chosen: pd.DataFrame, epochs: pd.DataFrame) -> pd.DataFrame:
  """Seed-mean per epoch of each configuration: validation score and wall seconds."""
  data = epochs[epochs["run_id"].isin(chosen["run_id"])].copy()
  accuracy = data["metric"] == "accuracy"
  data["valid_score"] = np.where(accuracy, data["valid_accuracies"], -data["valid_losses"])
  return (data.groupby(CONFIG + ["epoch"])
          .agg(valid_score=("valid_score", "mean"), wall_seconds=("wall_seconds", "mean"))
          .reset_index())


def time_to_target(chosen: pd.DataFrame, epochs: pd.DataFrame,
                   target: Optional[pd.DataFrame] = None) -> pd.DataFrame:
  """Analysis 8: first epoch at which each configuration's seed-mean validation score reaches
  its problem's target (inf if never), and the seed-mean wall seconds up to it (ours only)."""
  target = targets(chosen, epochs) if target is None else target
  curves = mean_curves(chosen, epochs).merge(target, on=["source", "problem", "instance"])
  rows = []
  for key, group in curves.groupby(CONFIG):
    hit = group[group["valid_score"] >= group["target_score"] - 1e-12]
    epoch = float(hit["epoch"].min()) if len(hit) else math.inf
    seconds = float(hit["wall_seconds"].iloc[0]) if len(hit) else math.inf
    rows.append({**dict(zip(CONFIG, key)), "target_score": group["target_score"].iloc[0],
                 "epochs_to_target": epoch, "seconds_to_target": seconds})
  return pd.DataFrame(rows)


def performance_profile(times: pd.DataFrame, column: str = "epochs_to_target",
                        taus: Sequence[float] = (1.0, 1.5, 2.0, 4.0, 8.0)) -> pd.DataFrame:
  """Fraction of problems on which each optimizer's time is within tau of the fastest
  (Dolan & More; AlgoPerf). Rows: optimizer; columns: tau. Problems nobody solved are dropped."""
  out = {}
  for key, group in times.groupby(["source", "schedule", "budget"]):
    pivot = group.pivot_table(index="optimizer", columns=["problem", "instance"], values=column,
                              aggfunc="first")
    fastest = pivot.min(axis=0)
    pivot = pivot.loc[:, np.isfinite(fastest) & (fastest > 0)]
    ratio = pivot / fastest[pivot.columns]
    out[key] = pd.DataFrame({tau: (ratio <= tau).sum(axis=1) / max(ratio.shape[1], 1)
                             for tau in taus})
  if not out:
    return pd.DataFrame()
  return pd.concat(out, names=["source", "schedule", "budget", "optimizer"])


def compare(ours: pd.DataFrame, reference: pd.DataFrame) -> pd.DataFrame:
  """Comparison mode: configurations present in both final tables (the same problem instance,
  i.e. the same quadratic_deep Hessian), with the difference and whether it is within the seed
  spread: |mean_a - mean_b| <= sqrt(std_a^2 + std_b^2)."""
  keys = ["problem", "instance", "optimizer", "schedule", "budget"]
  both = ours.merge(reference, on=keys, suffixes=("_ours", "_ref"))
  both["difference"] = both["mean_ours"] - both["mean_ref"]
  spread = np.sqrt(both["std_ours"] ** 2 + both["std_ref"] ** 2)
  both["within_seed_spread"] = both["difference"].abs() <= spread
  return both[keys + ["metric_ours", "seeds_ours", "mean_ours", "std_ours", "seeds_ref",
                      "mean_ref", "std_ref", "difference", "within_seed_spread"]]


POOR_DEFAULTS = ("amsgrad", "momentum", "nag")
ROBUST_DEFAULTS = ("adam", "amsbound")


def _relative_gain(better, worse, higher_is_better) -> np.ndarray:
  """Oriented improvement relative to |worse|, so problems of different scales average."""
  sign = np.where(np.asarray(higher_is_better, bool), 1.0, -1.0)
  return sign * (np.asarray(better, float) - np.asarray(worse, float)) / np.abs(worse)


def conclusions(table: pd.DataFrame, ranks: pd.DataFrame, k: int = 4) -> list[dict]:
  """The paper's conclusions (SPEC section 6) checked on `table`: claim, verdict, evidence."""
  out = []
  tuned_budgets = [b for b in reversed(BUDGET_ORDER[1:])
                   if (table["budget"] == b).any()] + sorted(
                       set(table["budget"]) - set(BUDGET_ORDER))
  top = tuned_budgets[0] if tuned_budgets else "oneshot"
  claim = "No optimizer dominates"
  sub = ranks[(ranks["budget"] == top) & (ranks["schedule"] == "constant")]
  problems = sub.groupby(["problem", "instance"]).ngroups
  if problems >= 2:
    tied = sub[sub["tied_with_best"]].groupby("optimizer").size()
    winners = sub[sub["rank"] == 1]["optimizer"].value_counts()
    dominant = tied[tied == problems]
    out.append({"claim": claim, "verdict": "not supported" if len(dominant) else "supported",
                "evidence": f"budget {top}, constant schedule: best per problem "
                + ", ".join(f"{n} on {c}" for n, c in winners.items())
                + f" of {problems} problems; within the bootstrap 95% interval of the best on "
                f"every problem: {', '.join(dominant.index) or 'none'}"})
  else:
    out.append({"claim": claim, "verdict": "not testable",
                "evidence": f"needs at least 2 problems at budget {top}; have {problems}"})
  claim = f"Several optimizers at their defaults (best of k = {k}) are about as good as tuning one"
  rows = defaults_vs_tuned(table, top, k) if top != "oneshot" else pd.DataFrame()
  if len(rows):
    share = float(rows["beaten_fraction"].mean())
    out.append({"claim": claim, "verdict": "supported" if share >= 0.5 else "not supported",
                "evidence": f"median best-of-{k} one-shot result is at least as good as "
                f"{share:.0%} of single optimizers tuned with {top} (mean over "
                f"{len(rows)} problem(s))"})
  else:
    out.append({"claim": claim, "verdict": "not testable",
                "evidence": f"needs >= {k} one-shot optimizers and a tuned budget per problem"})
  claim = "A schedule helps a little, tuning helps more"
  base = table[(table["budget"] == "oneshot") & (table["schedule"] == "constant")]
  keys = ["source", "problem", "instance", "optimizer"]
  tuned = table[(table["budget"] == top) & (table["schedule"] == "constant")]
  scheduled = table[(table["budget"] == "oneshot") & (table["schedule"] != "constant")]
  if len(tuned) and len(scheduled) and top != "oneshot":
    t = base.merge(tuned, on=keys, suffixes=("", "_t"))
    s = base.merge(scheduled, on=keys, suffixes=("", "_s"))
    tune_gain = float(np.nanmean(_relative_gain(t["mean_t"], t["mean"], t["higher_is_better"])))
    sched_gain = float(np.nanmean(_relative_gain(s["mean_s"], s["mean"], s["higher_is_better"])))
    ok = 0 <= sched_gain < tune_gain
    out.append({"claim": claim, "verdict": "supported" if ok else "not supported",
                "evidence": f"mean relative improvement over one-shot constant: schedules "
                f"{sched_gain:+.2%}, tuning ({top}) {tune_gain:+.2%}"})
  else:
    out.append({"claim": claim, "verdict": "not testable",
                "evidence": "needs one-shot runs with and without a schedule and tuned runs"})
  claim = "Defaults of amsgrad, momentum and nag are poor; adam's and amsbound's are robust"
  one_ranks = ranks[(ranks["budget"] == "oneshot") & (ranks["schedule"] == "constant")].copy()
  if len(one_ranks):
    size = one_ranks.groupby(["source", "problem", "instance"])["rank"].transform("max")
    one_ranks["percentile"] = np.where(size > 1, (one_ranks["rank"] - 1) / (size - 1).clip(1),
                                       0.0)
    mean_pct = one_ranks.groupby("optimizer")["percentile"].mean()
    poor = [n for n in POOR_DEFAULTS if n in mean_pct]
    robust = [n for n in ROBUST_DEFAULTS if n in mean_pct]
    if poor or robust:
      ok = all(mean_pct[n] >= 0.5 for n in poor) and all(mean_pct[n] <= 0.5 for n in robust)
      out.append({"claim": claim, "verdict": "supported" if ok else "not supported",
                  "evidence": "mean one-shot rank percentile (0 = best, 1 = worst): "
                  + ", ".join(f"{n} {mean_pct[n]:.2f}" for n in poor + robust)})
    else:
      out.append({"claim": claim, "verdict": "not testable",
                  "evidence": "none of these optimizers has one-shot runs"})
  return out


BUDGET_ORDER = ("oneshot", "small_budget", "medium_budget", "large_budget")
