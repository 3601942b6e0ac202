"""The analyses on a small generated tree whose every number is worked out by hand below."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from jaxbench.analysis import read_tree, stats
from jaxbench.analysis.synthetic import write_run

ACC, LOSS = "p_acc", "p_loss"


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
  root = str(tmp_path_factory.mktemp("tree"))
  one = dict(budget="oneshot", schedule="none")
  # p_acc, one-shot: a = 0.9, 0.9; b = 0.8, 0.8; c = 0.83, 0.93 (mean 0.88, std 0.05).
  write_run(root, ACC, "a", 42, [0.1, 0.5, 0.9], accuracy=True, **one,
            extra={"epoch_wall_seconds": [1.0, 2.0]})
  write_run(root, ACC, "a", 43, [0.1, 0.5, 0.9], accuracy=True, **one,
            extra={"epoch_wall_seconds": [1.0, 2.0]})
  write_run(root, ACC, "b", 42, [0.1, 0.8, 0.8], accuracy=True, **one)
  write_run(root, ACC, "b", 43, [0.1, 0.8, 0.8], accuracy=True, **one)
  write_run(root, ACC, "c", 42, [0.1, 0.9, 0.83], accuracy=True, **one)
  write_run(root, ACC, "c", 43, [0.1, 0.9, 0.93], accuracy=True, **one)
  # p_acc, a tuned (small budget): trials in time order lr 0.1 (0.7), 0.01 (0.95), 0.001 (0.6);
  # the best (0.01) re-run with seed 43 (0.93): mean 0.94, std 0.01.
  small = dict(budget="small_budget", schedule="none")
  for minute, (lr, final) in enumerate(((0.1, 0.7), (0.01, 0.95), (0.001, 0.6))):
    write_run(root, ACC, "a", 42, [0.1, final, final], hyperparams={"learning_rate": lr},
              accuracy=True, stamp=f"2024-01-02-00-0{minute}-00", **small)
  write_run(root, ACC, "a", 43, [0.1, 0.93, 0.93], hyperparams={"learning_rate": 0.01},
            accuracy=True, stamp="2024-01-02-00-09-00", **small)
  # p_loss: a one-shot 2.0, b one-shot 3.0, a tuned 1.5.
  write_run(root, LOSS, "a", 42, [4.0, 2.0], **one)
  write_run(root, LOSS, "b", 42, [4.0, 3.0], **one)
  write_run(root, LOSS, "a", 42, [4.0, 1.5], hyperparams={"learning_rate": 0.5}, **small)
  return read_tree(root)


def _row(table, **where):
  mask = np.ones(len(table), bool)
  for key, value in where.items():
    mask &= table[key] == value
  assert mask.sum() == 1, (where, table[mask])
  return table[mask].iloc[0]


def test_runs_frame_layout_and_selection(tree):
  runs = tree.runs
  assert len(runs) == 13 and len(tree.epochs) == 10 * 3 + 3 * 2
  assert set(runs["schedule"]) == {"constant"}        # published folder 'none'
  chosen = stats.selected(runs)
  tuned_a = chosen[(chosen["problem"] == ACC) & (chosen["budget"] == "small_budget")]
  assert sorted(tuned_a["seed"]) == [42, 43]           # the setting with the most seeds
  assert set(tuned_a["hyperparams"].map(lambda h: h["learning_rate"])) == {0.01}


def test_final_table_values(tree):
  table = stats.final_table(stats.selected(tree.runs))
  a = _row(table, problem=ACC, optimizer="a", budget="oneshot")
  assert (a["seeds"], a["mean"], a["std"], a["median"]) == (2, pytest.approx(0.9), 0.0,
                                                            pytest.approx(0.9))
  c = _row(table, problem=ACC, optimizer="c", budget="oneshot")
  assert c["mean"] == pytest.approx(0.88) and c["std"] == pytest.approx(0.05)
  tuned = _row(table, problem=ACC, optimizer="a", budget="small_budget")
  assert tuned["mean"] == pytest.approx(0.94) and tuned["std"] == pytest.approx(0.01)
  assert _row(table, problem=LOSS, optimizer="b")["mean"] == 3.0


def test_tuning_gain_matrix(tree):
  matrix = stats.tuning_gain(stats.final_table(stats.selected(tree.runs)), "small_budget")
  # accuracy: 0.94 - 0.90; loss (lower is better): 2.0 - 1.5.
  assert matrix.loc["a", ACC] == pytest.approx(0.04)
  assert matrix.loc["a", LOSS] == pytest.approx(0.5)
  assert list(matrix.index) == ["a"]


def test_best_of_k_and_defaults_vs_tuned(tree):
  table = stats.final_table(stats.selected(tree.runs))
  two = stats.best_of_k(table, 2)
  two = two[two["problem"] == ACC].set_index("subset")["best"]
  assert two.to_dict() == pytest.approx({"a,b": 0.9, "a,c": 0.9, "b,c": 0.88})
  summary = stats.defaults_vs_tuned(table, "small_budget", 1).set_index("problem")
  # k = 1: medians of (0.9, 0.8, 0.88) = 0.88 and of (-2, -3) -> loss 2.5.
  assert summary.loc[ACC, "median_best_of_k"] == pytest.approx(0.88)
  assert summary.loc[LOSS, "median_best_of_k"] == pytest.approx(2.5)
  # the one tuned optimizer (0.94; loss 1.5) beats both medians.
  assert summary.loc[ACC, "beaten_fraction"] == 0.0
  assert summary.loc[LOSS, "median_tuned"] == pytest.approx(1.5)


def test_best_so_far_curves(tree):
  curves = stats.best_so_far(tree.runs)
  acc = curves[curves["problem"] == ACC]
  assert list(acc["trial"]) == [1, 2, 3]
  assert list(acc["best_valid"]) == pytest.approx([0.7, 0.95, 0.95])
  assert list(acc["test_at_best"]) == pytest.approx([0.7, 0.95, 0.95])
  loss = curves[curves["problem"] == LOSS]
  assert list(loss["best_valid"]) == pytest.approx([1.5])


def test_ranking_bootstrap(tree):
  ranks = stats.ranking(stats.selected(tree.runs))
  acc = ranks[(ranks["problem"] == ACC) & (ranks["budget"] == "oneshot")].set_index("optimizer")
  assert list(acc.sort_values("rank").index) == ["a", "c", "b"]
  # c's resampled means are 0.83, 0.88 or 0.93, so c - a spans -0.07 .. +0.03: reaches 0.
  assert acc.loc["c", "tied_with_best"] and acc.loc["c", "ci_high"] == pytest.approx(0.03)
  # b is 0.8 on every seed, a 0.9: the difference is -0.1 in every resample.
  assert not acc.loc["b", "tied_with_best"]
  assert (acc.loc["b", "ci_low"], acc.loc["b", "ci_high"]) == pytest.approx((-0.1, -0.1))


def test_time_to_target_and_performance_profile(tree):
  chosen = stats.selected(tree.runs)
  times = stats.time_to_target(chosen, tree.epochs)
  one = times[times["budget"] == "oneshot"]
  # target p_acc = a's final valid mean 0.9; c's seed-mean curve is 0.1, 0.9, 0.88.
  assert _row(one, problem=ACC, optimizer="a")["epochs_to_target"] == 2
  assert _row(one, problem=ACC, optimizer="a")["seconds_to_target"] == 3.0   # 1 s + 2 s
  assert _row(one, problem=ACC, optimizer="c")["epochs_to_target"] == 1
  assert _row(one, problem=ACC, optimizer="b")["epochs_to_target"] == math.inf
  assert _row(one, problem=LOSS, optimizer="a")["epochs_to_target"] == 1
  assert _row(times, problem=ACC, budget="small_budget")["epochs_to_target"] == 1
  profile = stats.performance_profile(times).loc[(chosen["source"].iloc[0],
                                                  "constant", "oneshot")]
  # ratios: p_acc a 2, c 1, b inf; p_loss a 1, b inf.
  assert profile.loc["a", 1.0] == 0.5 and profile.loc["a", 2.0] == 1.0
  assert profile.loc["c", 1.0] == 0.5 and profile.loc["c", 8.0] == 0.5
  assert profile.loc["b", 8.0] == 0.0


def test_conclusions_state_numbers(tree):
  chosen = stats.selected(tree.runs)
  table = stats.final_table(chosen)
  result = {c["claim"].split(" (")[0].split(":")[0]: c for c in
            stats.conclusions(table, stats.ranking(chosen), k=2)}
  dominates = result["No optimizer dominates"]
  # Only a is tuned, so it is the best on both problems: the claim fails on this tree.
  assert dominates["verdict"] == "not supported" and "a on 2" in dominates["evidence"]
  several = next(v for k, v in result.items() if k.startswith("Several"))
  # median best-of-2 = 0.9 (acc) and 2.0 (loss, only one subset): neither beats a tuned.
  assert several["verdict"] == "not supported" and "0%" in several["evidence"]


def test_compare_within_seed_spread():
  ours = pd.DataFrame({"problem": ["p"], "instance": [""], "optimizer": ["a"],
                       "schedule": ["constant"], "budget": ["oneshot"], "metric": ["loss"],
                       "seeds": [3], "mean": [1.0], "std": [0.3]})
  ref = ours.assign(mean=[1.45], std=[0.4])
  row = stats.compare(ours, ref).iloc[0]
  assert row["difference"] == pytest.approx(-0.45) and row["within_seed_spread"]  # 0.45 <= 0.5
  far = stats.compare(ours, ref.assign(mean=[1.6])).iloc[0]
  assert not far["within_seed_spread"]
