"""The optimizer catalogue: faithful to the study's list, runnable-ness from the live registry."""
from __future__ import annotations

import pathlib
import re

import pytest

from jaxbench import optimizers
from jaxbench.optimizers import catalogue
from jaxbench.optimizers.__main__ import main

_REPO = pathlib.Path(__file__).resolve().parents[1]
_CANDIDATES = [_REPO.parent / "shared" / "optimizer_catalogue.md",
               _REPO / "shared" / "optimizer_catalogue.md"]
_MARKDOWN = next((path for path in _CANDIDATES if path.exists()), None)


def _by_name():
  return {entry.name: entry for entry in catalogue.load()}


@pytest.mark.skipif(_MARKDOWN is None, reason="the shared optimizer_catalogue.md is not beside "
                    "this checkout (the package data is checked against 158 below)")
def test_matches_the_markdown_list():
  lines = [line.rstrip("\n") for line in _MARKDOWN.read_text(encoding="utf-8").splitlines()
           if line.startswith("- ")]
  entries = catalogue.load()
  assert len(entries) == len(lines)
  for line, entry in zip(lines, entries):
    assert line == f"- {entry.name} ({entry.authors}, {entry.year}) [{entry.venue}]"


def test_entries_are_well_formed():
  entries = catalogue.load()
  assert len(entries) == 158  # the study's list (issue 2)
  assert len({e.name for e in entries}) == len(entries)
  for entry in entries:
    assert entry.name and entry.authors and entry.venue
    assert 1950 <= entry.year <= 2021
    assert all(re.fullmatch(r"[a-z0-9_]+", name) for name in entry.jaxbench + entry.schedules)


def test_registry_names_of_known_entries():
  by_name = _by_name()
  assert by_name["Adam"].jaxbench == ("adam",)
  assert by_name["Adam"].authors == "Kingma & Ba" and by_name["Adam"].year == 2015
  assert by_name["Nesterov Accelerated Momentum"].jaxbench == ("nag",)
  assert by_name["Polyak Momentum"].jaxbench == ("momentum",)
  assert by_name["LookAhead"].jaxbench == ("lookahead_momentum", "lookahead_radam")
  assert by_name["AdaBound/AMSBound"].jaxbench == ("adabound", "amsbound")
  assert by_name["AdamW"].jaxbench == ("adamw",)
  assert by_name["SGDR"].jaxbench == () and "cosine_wr" in by_name["SGDR"].schedules
  assert "Lion" not in by_name
  assert by_name["K-BFGS/K-BFGS(L)"].year == 2020  # a name with parentheses parses whole


def test_every_paper_optimizer_is_in_the_catalogue_and_runs():
  registered = optimizers.names()
  covered = {name for entry in catalogue.load() if entry.runnable(registered)
             for name in entry.registered(registered)}
  assert set(optimizers.paper_names()) <= covered
  assert len(optimizers.paper_names()) == 15


def test_runnable_is_decided_by_the_live_registry():
  registered = optimizers.names()
  for entry in catalogue.load():
    assert entry.runnable(registered) == any(name in registered for name in entry.jaxbench)
  adam = _by_name()["Adam"]
  assert adam.runnable(registered)
  assert not adam.runnable([name for name in registered if name != "adam"])
  ghost = catalogue.CatalogueEntry("Ghost", "Nobody", 2020, "arXiv", jaxbench=("not_registered",))
  assert not ghost.runnable(registered) and ghost.registered(registered) == ()


def test_command_prints_the_table_and_counts(capsys):
  assert main([]) == 0
  full = capsys.readouterr().out
  assert "Polyak Momentum" in full and "AcceleGrad" in full
  assert "158 catalogue entries" in full
  assert main(["--runnable"]) == 0
  out = capsys.readouterr().out
  registered = optimizers.names()
  runnable = [e for e in catalogue.load() if e.runnable(registered)]
  table_rows = out.split("\n\n")[0].splitlines()[2:]  # below the header and its rule
  assert len(table_rows) == len(runnable)
  assert "AcceleGrad" not in out and "Adam " in out
  assert f"{len(runnable)} run by jaxbench" in out


def test_bad_catalogue_entry_is_named():
  with pytest.raises(ValueError, match=r"'Broken'.*missing fields \['year'"):
    catalogue._entry({"name": "Broken", "authors": "A", "venue": "B", "jaxbench": []}, 3)
