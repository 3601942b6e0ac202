"""One DataFrame -> markdown, CSV and LaTeX (booktabs) files, and HTML for the report."""
from __future__ import annotations

import os

import pandas as pd


def write(table: pd.DataFrame, out_dir: str, name: str, floatfmt: str = ".4g") -> dict[str, str]:
  """Writes <name>.md, <name>.csv and <name>.tex; returns their paths."""
  os.makedirs(out_dir, exist_ok=True)
  paths = {ext: os.path.join(out_dir, f"{name}.{ext}") for ext in ("md", "csv", "tex")}
  table.to_csv(paths["csv"], index=False)
  with open(paths["md"], "w", encoding="utf-8") as f:
    f.write(table.to_markdown(index=False, floatfmt=floatfmt) + "\n")
  with open(paths["tex"], "w", encoding="utf-8") as f:
    # hrules=True gives \toprule / \midrule / \bottomrule (the booktabs package).
    f.write(table.style.hide(axis="index").format(precision=4).to_latex(hrules=True))
  return paths


def html(table: pd.DataFrame) -> str:
  return table.to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="–",
                       border=0, classes="table", escape=True)
