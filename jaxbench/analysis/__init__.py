"""Analysis of run-record trees: reader, tidy DataFrames, tables, figures and the HTML report."""
from jaxbench.analysis.reader import Tree, load_epochs, load_runs, read_tree

__all__ = ["Tree", "load_epochs", "load_runs", "read_tree"]
