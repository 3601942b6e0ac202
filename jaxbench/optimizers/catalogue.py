"""The Crowded Valley study's list of optimizers, as package data, with what jaxbench runs.

catalogue.json holds the facts (name, authors, year, venue) and the registry names that would
run each entry; whether they run is decided against the live registry (`names()`), never
stored, so an entry whose registry name is missing reads as not runnable.
"""
from __future__ import annotations

import dataclasses
import importlib.resources
import json
from typing import Collection, Sequence

_FIELDS = ("name", "authors", "year", "venue", "jaxbench")


@dataclasses.dataclass(frozen=True)
class CatalogueEntry:
  """One optimizer (or family of variants, joined by '/') of the study's list."""
  name: str
  authors: str
  year: int
  venue: str
  jaxbench: tuple[str, ...] = ()  # registry names that run it
  schedules: tuple[str, ...] = ()  # schedule names, for entries that are schedules (SGDR)
  note: str = ""

  def registered(self, registry_names: Collection[str]) -> tuple[str, ...]:
    """The entry's registry names that are actually registered."""
    return tuple(name for name in self.jaxbench if name in registry_names)

  def runnable(self, registry_names: Collection[str]) -> bool:
    """True when at least one of its registry names is registered (e.g. adabound of
    AdaBound/AMSBound)."""
    return bool(self.registered(registry_names))


def _entry(raw: dict, index: int) -> CatalogueEntry:
  missing = [field for field in _FIELDS if field not in raw]
  unknown = sorted(set(raw) - set(_FIELDS) - {"schedules", "note"})
  if missing or unknown:
    raise ValueError(f"catalogue.json entry {index} ({raw.get('name')!r}): missing fields "
                     f"{missing}, unknown fields {unknown}")
  return CatalogueEntry(name=raw["name"], authors=raw["authors"], year=int(raw["year"]),
               venue=raw["venue"], jaxbench=tuple(raw["jaxbench"]),
               schedules=tuple(raw.get("schedules", ())), note=raw.get("note", ""))


def load() -> list[CatalogueEntry]:
  """Every catalogue entry, in the list's (alphabetical) order."""
  text = importlib.resources.files("jaxbench.optimizers").joinpath("catalogue.json").read_text(
      encoding="utf-8")
  return [_entry(raw, i) for i, raw in enumerate(json.loads(text)["optimizers"])]


def registry_names() -> list[str]:
  """The optimizer registry's names (imported lazily: the registry may fail to import alone)."""
  from jaxbench.optimizers import registry  # pylint: disable=import-outside-toplevel
  return list(registry.names())


def table(entries: Sequence[CatalogueEntry], registered: Collection[str]) -> str:
  """A plain-text table: name, authors, year, venue, and the registry names that run it."""
  rows = [("optimizer", "authors", "year", "venue", "jaxbench")]
  for entry in entries:
    runs = ", ".join(entry.registered(registered))
    if not runs and entry.schedules:
      runs = "schedule: " + ", ".join(entry.schedules)
    rows.append((entry.name, entry.authors, str(entry.year), entry.venue, runs or "-"))
  widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
  lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1]
           for row in rows]
  lines.insert(1, "-" * max(len(line) for line in lines))
  return "\n".join(line.rstrip() for line in lines)


def summary(entries: Sequence[CatalogueEntry], registered: Collection[str]) -> str:
  """Counts for the end of the listing."""
  runnable = [entry for entry in entries if entry.runnable(registered)]
  listed = {name for entry in entries for name in entry.jaxbench}
  extra = [name for name in registered if name not in listed]
  lines = [f"{len(entries)} catalogue entries; {len(runnable)} run by jaxbench "
           f"(through {sum(len(e.registered(registered)) for e in runnable)} registry names)."]
  if extra:
    lines.append(f"Registered but not in the study's list: {', '.join(extra)}.")
  return "\n".join(lines)
