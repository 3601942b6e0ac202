"""The import graph of jaxbench: no cycles between its parts, and nothing imports upwards.

Data flows config -> problem and optimizer -> compiled step -> run records -> analysis
(STYLE.md). The same graph is printed by `python -m jaxbench.imports` (BUILD_NOTES.md,
"Where things live"). grimp parses every import statement, function-level ones included.
"""
from __future__ import annotations

import grimp
import pytest

from jaxbench import imports


@pytest.fixture(scope="module")
def graph():
  return grimp.build_graph("jaxbench")


def test_no_cycles_between_parts(graph):
  edges = imports.part_edges(graph)
  assert imports.find_cycle(edges) is None, f"import cycle: {imports.find_cycle(edges)}"


# (lower part, higher part): the lower one must never import the higher one.
FORBIDDEN = [
    ("jaxbench.tuning", "jaxbench.optimizers"),
    ("jaxbench.train", "jaxbench.run"),
    ("jaxbench.train", "jaxbench.config"),
    ("jaxbench.run", "jaxbench.config"),
    ("jaxbench.run", "jaxbench.main"),
]
LEAVES = ("jaxbench.optimizers", "jaxbench.schedules", "jaxbench.tuning", "jaxbench.problems",
          "jaxbench.data")
UPPER = ("jaxbench.train", "jaxbench.run", "jaxbench.config", "jaxbench.main", "jaxbench.cli",
         "jaxbench.bench", "jaxbench.sweep", "jaxbench.analysis", "jaxbench.analyze")


@pytest.mark.parametrize("lower,upper", FORBIDDEN + [(l, u) for l in LEAVES for u in UPPER])
def test_nothing_imports_upwards(graph, lower, upper):
  if upper not in graph.modules:
    return  # that part does not exist (yet); nothing can import it
  chains = graph.find_shortest_chain(importer=lower, imported=upper, as_packages=True)
  assert chains is None, f"{lower} imports {upper}: {' -> '.join(chains)}"


def test_cycle_finder_finds_a_planted_cycle():
  edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
  cycle = imports.find_cycle(edges)
  assert cycle is not None and set(cycle) == {"a", "b", "c"}
  assert imports.find_cycle({"a": {"b"}, "b": set()}) is None
