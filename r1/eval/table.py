"""The results table: one row per (model, benchmark), the paper's number beside ours, csv/md/html and a plot.

Our accuracies are fractions in [0, 1]. `r1/assets/paper_results.csv` keeps the paper's numbers as printed
(percent); `build_table` converts them to fractions so `pass@1` and `paper_pass@1` compare directly.

Which paper model sits beside one of ours: the summary's ``paper_model`` key if present, else the
`paper_models` argument (a dict model -> paper model, or one name for all rows), else the first rule of
`DEFAULT_PAPER_MODEL_RULES` whose substring occurs in the lower-cased model name ("zero" -> R1-Zero,
"distill" -> Distill-Qwen-1.5B, "base" -> no paper row), else "R1". Rows whose benchmark the paper does not
report (e.g. GSM8K) get empty paper columns.
"""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path

import pandas as pd

from r1.atomic import atomic_path, write_text

log = logging.getLogger(__name__)

DEFAULT_PAPER_CSV = Path(__file__).resolve().parent.parent / "assets" / "paper_results.csv"

DEFAULT_PAPER_MODEL_RULES: tuple[tuple[str, str | None], ...] = (
    ("zero", "R1-Zero"),
    ("distill", "Distill-Qwen-1.5B"),
    ("base", None),
)
DEFAULT_PAPER_MODEL = "R1"

# Our benchmark names -> the paper's (after lower-casing and dropping non-alphanumerics).
BENCHMARK_ALIASES = {
    "math500": "math500",
    "aime24": "aime24",
    "aime2024": "aime24",
    "gpqa": "gpqadiamond",
    "gpqad": "gpqadiamond",
    "gpqadiamond": "gpqadiamond",
    "livecodebench": "livecodebench",
    "lcb": "livecodebench",
    "mmlu": "mmlu",
    "mmlustem": "mmlu",  # r1 ships MMLU's STEM subset; the paper's number is on all of MMLU (README)
}

LEADING_COLUMNS = ["model", "benchmark", "n_problems", "k"]
CI_COLUMNS = ["pass@1_ci95_lo", "pass@1_ci95_hi"]
TRAILING_COLUMNS = [
    "kind",  # math (empty), code, choice, refusal, over_refusal, judged (r1.eval.tasks)
    "refusal_rate",
    "refusal_rate_ci95_lo",
    "refusal_rate_ci95_hi",
    "judge_score",
    "judge_score_ci95_lo",
    "judge_score_ci95_hi",
    "mean_length",
    "median_length",
    "truncation_rate",
    "format_rate",
    "language_consistency",
    "n_unparseable_gold",
    "grader_mode",
]
PAPER_METRICS = ("pass@1", "cons@64")


def benchmark_key(name: str) -> str:
    key = re.sub(r"[^a-z0-9]", "", str(name).lower())
    return BENCHMARK_ALIASES.get(key, key)


def load_paper_results(paper_csv: str | Path | None = DEFAULT_PAPER_CSV) -> pd.DataFrame:
    if paper_csv is None:
        return pd.DataFrame(columns=["model", "benchmark", "metric", "value", "source"])
    df = pd.read_csv(paper_csv)
    missing = {"model", "benchmark", "metric", "value"} - set(df.columns)
    if missing:
        raise ValueError(f"{paper_csv}: paper results lack columns {sorted(missing)}")
    return df


def paper_model_for(summary: dict, paper_models: dict | str | None = None) -> str | None:
    model = str(summary.get("model", ""))
    if "paper_model" in summary:
        return summary["paper_model"]
    if isinstance(paper_models, dict):
        if model in paper_models:
            return paper_models[model]
    elif isinstance(paper_models, str):
        return paper_models
    low = model.lower()
    for needle, paper_model in DEFAULT_PAPER_MODEL_RULES:
        if needle in low:
            return paper_model
    return DEFAULT_PAPER_MODEL


def _metric_k(col: str) -> int:
    return int(col.split("@", 1)[1])


def build_table(
    summaries: list[dict],
    paper_csv: str | Path | None = DEFAULT_PAPER_CSV,
    paper_models: dict | str | None = None,
) -> pd.DataFrame:
    """One row per (model, benchmark) with every metric of `summarize`, plus paper_model/paper_pass@1/...

    Raises ValueError when two summaries share (model, benchmark).
    """
    if not summaries:
        raise ValueError("build_table: no summaries")
    paper = load_paper_results(paper_csv)
    paper_lookup: dict[tuple[str, str, str], float] = {}
    for row in paper.itertuples(index=False):
        key = (str(row.model), benchmark_key(row.benchmark), str(row.metric))
        paper_lookup[key] = float(row.value) / 100.0

    seen: set[tuple[str, str]] = set()
    rows = []
    for s in summaries:
        for key in ("model", "benchmark"):
            if key not in s:
                raise ValueError(f"build_table: summary lacks {key!r}: {sorted(s)}")
        key = (str(s["model"]), str(s["benchmark"]))
        if key in seen:
            raise ValueError(f"build_table: two summaries for model={key[0]!r} benchmark={key[1]!r}")
        seen.add(key)
        row = {c: s.get(c) for c in LEADING_COLUMNS + CI_COLUMNS + TRAILING_COLUMNS}
        row.update({c: v for c, v in s.items() if re.fullmatch(r"(pass|cons)@\d+", c)})
        pm = paper_model_for(s, paper_models)
        bkey = benchmark_key(s["benchmark"])
        row["paper_model"] = pm
        for metric in PAPER_METRICS:
            row[f"paper_{metric}"] = paper_lookup.get((pm, bkey, metric)) if pm else None
        rows.append(row)

    df = pd.DataFrame(rows)
    pass_cols = sorted((c for c in df.columns if re.fullmatch(r"pass@\d+", c)), key=_metric_k)
    cons_cols = sorted((c for c in df.columns if c.startswith("cons@")), key=_metric_k)
    paper_cols = ["paper_model"] + [f"paper_{m}" for m in PAPER_METRICS]
    df = df[
        LEADING_COLUMNS
        + pass_cols[:1]
        + CI_COLUMNS
        + pass_cols[1:]
        + cons_cols
        + TRAILING_COLUMNS
        + paper_cols
    ]
    for c in pass_cols + CI_COLUMNS + cons_cols + [f"paper_{m}" for m in PAPER_METRICS]:
        df[c] = pd.to_numeric(df[c], errors="coerce").astype(float)
    return df.reset_index(drop=True)


def _fmt(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return ""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) >= 1000 else f"{value:.4g}"
    return str(value)


def to_markdown(df: pd.DataFrame) -> str:
    """GitHub Markdown table (own renderer: no `tabulate` dependency). Floats to 4 significant digits."""
    cols = [str(c) for c in df.columns]
    body = [
        [_fmt(v).replace("|", "\\|").replace("\n", " ") for v in row] for row in df.itertuples(index=False)
    ]
    widths = [max([len(c)] + [len(r[i]) for r in body]) for i, c in enumerate(cols)]
    numeric = [
        pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c]) for c in df.columns
    ]
    layout = list(zip(widths, numeric, strict=True))

    def line(cells):
        padded = (c.rjust(w) if num else c.ljust(w) for c, (w, num) in zip(cells, layout, strict=True))
        return "| " + " | ".join(padded) + " |"

    sep = "|" + "|".join(("-" * (w + 1) + ":") if num else ("-" * (w + 2)) for w, num in layout) + "|"
    return "\n".join([line(cols), sep] + [line(r) for r in body]) + "\n"


def write_table(df: pd.DataFrame, csv_path: str | Path, md_path: str | Path, html_path: str | Path) -> None:
    """Write the table as csv (full precision), Markdown and HTML, each atomically."""
    with atomic_path(csv_path) as tmp:
        df.to_csv(tmp, index=False)
    write_text(md_path, to_markdown(df))
    html = df.to_html(index=False, na_rep="", float_format=lambda v: f"{v:.4g}", border=0, classes="r1-eval")
    write_text(html_path, '<!doctype html>\n<meta charset="utf-8">\n<title>r1 eval</title>\n' + html + "\n")


def _cell(sub: pd.DataFrame, model: str, col: str) -> float:
    if model not in sub.index or pd.isna(sub.at[model, col]):
        return math.nan
    return float(sub.at[model, col])


def plot_pass1_by_stage(df: pd.DataFrame, png_path: str | Path, stage_order: list[str] | None = None) -> None:
    """pass@1 by model (pipeline stage) for each benchmark: bars for ours, red diamonds for the paper's."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if df.empty:
        raise ValueError("plot_pass1_by_stage: empty table")
    models = list(dict.fromkeys(df["model"]))
    if stage_order:
        known = [m for m in stage_order if m in models]
        models = known + [m for m in models if m not in known]
    benchmarks = list(dict.fromkeys(df["benchmark"]))
    width = max(4.0, 1.2 * len(models) + 2) * len(benchmarks)
    fig, axes = plt.subplots(1, len(benchmarks), figsize=(width, 4), squeeze=False)
    for ax, bench in zip(axes[0], benchmarks, strict=True):
        sub = df[df["benchmark"] == bench].set_index("model")
        xs = list(range(len(models)))
        ours = [_cell(sub, m, "pass@1") for m in models]
        ax.bar(xs, [0 if math.isnan(v) else v for v in ours], color="tab:blue", label="r1 pass@1")
        ax.plot(xs, ours, color="tab:blue", marker="o", linewidth=1)
        if "paper_pass@1" in sub.columns:
            paper = [_cell(sub, m, "paper_pass@1") for m in models]
            if any(not math.isnan(v) for v in paper):
                ax.scatter(xs, paper, color="tab:red", marker="D", zorder=3, label="paper pass@1")
        for x, v in zip(xs, ours, strict=True):
            if not math.isnan(v):
                ax.annotate(
                    f"{v:.3f}", (x, v), textcoords="offset points", xytext=(0, 4), ha="center", fontsize=8
                )
        ax.set_xticks(xs, models, rotation=30, ha="right")
        ax.set_ylim(0, 1.05)
        ax.set_title(str(bench))
        ax.set_ylabel("pass@1")
        ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    with atomic_path(png_path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
