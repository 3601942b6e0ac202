"""Print jaxbench's import graph between its parts, and any cycle: `python -m jaxbench.imports`.

A part is a subpackage (jaxbench.train, jaxbench.run, ...) or a top-level module
(jaxbench.config, jaxbench.main, ...). Built with grimp, which reads every import statement
(function-level ones included) without running the code.
"""
from __future__ import annotations

import sys
from typing import Mapping, Optional

import grimp


def parts(graph: grimp.ImportGraph) -> list[str]:
  """jaxbench's direct children: its subpackages and top-level modules."""
  return sorted(m for m in graph.find_children("jaxbench") if m.count(".") == 1)


def part_edges(graph: grimp.ImportGraph) -> dict[str, set[str]]:
  """part -> the parts it imports directly (anywhere inside it)."""
  names = parts(graph)
  return {a: {b for b in names if b != a and graph.direct_import_exists(
      importer=a, imported=b, as_packages=True)} for a in names}


def find_cycle(edges: Mapping[str, set[str]]) -> Optional[list[str]]:
  """One cycle of the directed graph as a list of nodes, or None (depth-first search)."""
  state: dict[str, int] = {}  # 1 = on the current path, 2 = finished
  path: list[str] = []

  def visit(node: str) -> Optional[list[str]]:
    state[node] = 1
    path.append(node)
    for nxt in sorted(edges.get(node, ())):
      if state.get(nxt) == 1:
        return path[path.index(nxt):]
      if nxt not in state:
        found = visit(nxt)
        if found:
          return found
    path.pop()
    state[node] = 2
    return None

  for node in sorted(edges):
    if node not in state:
      found = visit(node)
      if found:
        return found
  return None


def main() -> int:
  graph = grimp.build_graph("jaxbench")
  edges = part_edges(graph)
  for part in sorted(edges):
    targets = ", ".join(t.split(".", 1)[1] for t in sorted(edges[part])) or "-"
    print(f"{part.split('.', 1)[1]:<12} -> {targets}")
  cycle = find_cycle(edges)
  print("cycles: none" if cycle is None else "cycle: " + " -> ".join(cycle + cycle[:1]))
  return 0 if cycle is None else 1


if __name__ == "__main__":
  sys.exit(main())
