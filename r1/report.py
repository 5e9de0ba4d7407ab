"""Report assets for `snakemake --report`: one PNG of curves per RL stage, SFT loss curves, and HTML tables of
the data per source, the generate-and-filter yield and the provenance facts of every manifest.

Only images, HTML and PDF show inline in a Snakemake report, so every table is written as a small HTML page.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import pandas as pd

from r1.atomic import atomic_path, write_text

# (metrics.jsonl key, panel title) of each RL panel; "reward" also draws each reward function's mean.
RL_PANELS = [
    ("reward", "reward (total and per reward function)"),
    ("kl", "KL to the reference model"),
    ("completions/mean_length", "mean completion length (tokens)"),
]
SFT_PANELS = [("loss", "training loss")]


def read_metrics(path: str | Path) -> pd.DataFrame:
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    return pd.DataFrame(rows)


def stage_of(path: str | Path) -> str:
    """The stage a results file belongs to: results/<stage>/... (students:
    results/distill/students/<name>/...)."""
    p = Path(path)
    return p.parent.name if p.parent.name != "students" else p.parent.parent.name


def _savefig(fig, png: str | Path) -> None:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    with atomic_path(png) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)


def _draw(ax, df: pd.DataFrame, key: str, title: str, per_reward: bool) -> None:
    if not df.empty and key in df and "step" in df and df[key].notna().any():
        d = df.dropna(subset=[key])
        ax.plot(d["step"], d[key], marker="o", label=key)
        if per_reward and key == "reward":
            for rk in [c for c in df.columns if c.startswith("rewards/") and c.endswith("/mean")]:
                d = df.dropna(subset=[rk])
                ax.plot(d["step"], d[rk], marker=".", linestyle="--", label=rk.split("/")[1])
            ax.legend(fontsize=7)
    else:
        ax.text(0.5, 0.5, f"no '{key}' logged", ha="center", va="center", transform=ax.transAxes)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("optimizer step")


def plot_stage(metrics_path: str | Path, png: str | Path, panels: list[tuple[str, str]], stage: str) -> None:
    """One figure for one training stage: one panel per metric, side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    df = read_metrics(metrics_path)
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.2), squeeze=False)
    for ax, (key, title) in zip(axes[0], panels, strict=True):
        _draw(ax, df, key, title, per_reward=True)
    fig.suptitle(stage, fontsize=11)
    _savefig(fig, png)


def plot_curves(metric_files: list[str], panels: list[tuple[str, str]], png: str | Path) -> None:
    """One figure for several stages: one row per stage (the SFT stages' loss curves)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        len(metric_files), len(panels), figsize=(4.2 * len(panels), 3.0 * len(metric_files)), squeeze=False
    )
    for row, path in enumerate(metric_files):
        df = read_metrics(path)
        for ax, (key, title) in zip(axes[row], panels, strict=True):
            _draw(ax, df, key, f"{stage_of(path)}: {title}", per_reward=False)
    _savefig(fig, png)


def _html_table(df: pd.DataFrame, title: str) -> str:
    return f"<h3>{html.escape(title)}</h3>\n" + df.to_html(index=False, border=1, na_rep="", escape=True)


def _page(title: str, body: str) -> str:
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif}table{border-collapse:collapse}td,th{padding:3px 8px}"
        "td{text-align:right}</style>"
        f"</head><body><h2>{html.escape(title)}</h2>\n{body}\n</body></html>\n"
    )


def data_stats_table(stats: dict, cold_start_stats: dict | None = None) -> pd.DataFrame:
    """One row per data source (RL prompts and cold-start seeds: r1.data.source_table), a total per use."""
    from r1.data import SOURCE_TABLE_COLUMNS, source_table

    df = source_table(stats, cold_start_stats)
    totals = [
        {"source": "total", "use": use, **{c: part[c].sum(min_count=1) for c in SOURCE_TABLE_COLUMNS[2:]}}
        for use, part in df.groupby("use", sort=False)
    ]
    return pd.concat([df, pd.DataFrame(totals, columns=SOURCE_TABLE_COLUMNS)], ignore_index=True)


def data_stats_html(stats_path: str | Path, cold_start_stats_path: str | Path | None = None) -> str:
    stats = json.loads(Path(stats_path).read_text())
    cold = json.loads(Path(cold_start_stats_path).read_text()) if cold_start_stats_path else None
    note = (
        "<p>Quarantined rows (with the file, row, field and reason) are in "
        "<code>results/data/quarantine.parquet</code>; rows dropped as near-duplicates of an eval benchmark "
        "item (word n-grams, <code>data.decontamination.min_overlap</code>) or as templates of one, with the "
        "matched item and the overlap, in <code>results/data/contamination.parquet</code>. Cold-start seeds "
        "are human solutions rewritten into the R1 format; <i>unreadable</i> ones fall below "
        "<code>cold_start.filters.min_readability</code>.</p>"
    )
    return _page("Data by source", _html_table(data_stats_table(stats, cold), "per source") + note)


def yield_table(stage_stats: dict[str, str | Path]) -> pd.DataFrame:
    parts = []
    for stage, path in stage_stats.items():
        s = json.loads(Path(path).read_text())
        # a judged stage (sft_data) reports each generated set; rejection sampling its code tasks too
        parts += [(f"{stage}: {name}", sub) for name, sub in s.get("sets", {}).items()] or [(stage, s)]
        if s.get("code"):
            code = s["code"]
            parts.append((f"{stage}: code", {"filter": {k: v for k, v in code.items() if k != "yield"}}))
    rows = []
    for stage, s in parts:
        f = s.get("filter", {})
        n, kept = f.get("n_samples"), f.get("kept")
        rows.append(
            {
                "stage": stage,
                "samples generated": n,
                "kept": kept,
                "yield": round(kept / n, 3) if n and kept is not None else None,
                **{
                    k.removeprefix("dropped_") + " (dropped)": v
                    for k, v in f.items()
                    if k.startswith("dropped_")
                },
                "verified rows": s.get("verified_rows"),
                "unreferenced rows (fill)": s.get("unreferenced_rows"),
                "decontaminated": s.get("decontaminated"),
                "SFT rows": s.get("dataset_rows"),
            }
        )
    df = pd.DataFrame(rows)
    counts = [c for c in df.columns if c not in ("stage", "yield")]
    df[counts] = df[counts].astype("Int64")  # counts stay integers where a stage lacks a column
    return df


def yield_html(stage_stats: dict[str, str | Path]) -> str:
    note = (
        "<p><b>distill</b> is the teacher generation for the distilled students; "
        "<i>verified rows</i> are grader-correct teacher samples. A sample the grader marked incorrect is "
        "never trained on; with <code>fill: unreferenced</code>, samples of prompts without a reference "
        "answer fill up to <code>min_examples</code> (<i>unreferenced rows</i>, marked "
        "<code>reference=false</code> in the dataset). <b>sft_data</b> rows are the generated "
        "non-reasoning and safety SFT sets: <i>kept</i> counts prompts whose best judged sample reached "
        "<code>min_score</code> (one per prompt), so the yield is at most 1 / samples_per_prompt.</p>"
    )
    return _page(
        "Generate-and-filter yield (cold start, rejection sampling, teacher generation)",
        _html_table(yield_table(stage_stats), "per stage") + note,
    )


def provenance_table(manifests: list[str | Path]) -> pd.DataFrame:
    rows = []
    for path in manifests:
        m = json.loads(Path(path).read_text())
        v = m.get("versions", {})
        rows.append(
            {
                "artifact": str(Path(path).parent),
                "rule": m.get("rule"),
                "config sha256": (m.get("config_sha256") or "")[:12],
                "code sha256": (m.get("code_sha256") or "")[:12],
                "seed": m.get("seed"),
                "inputs": len(m.get("inputs", {})),
                "upstream manifests": len(m.get("upstream_manifests", {})),
                "r1 commit": (v.get("r1") or "")[:19],
                "torch": v.get("torch"),
                "transformers": v.get("transformers"),
                "trl": v.get("trl"),
                "snakemake": v.get("snakemake"),
                "host": m.get("host"),
                "started": m.get("started"),
                "finished": m.get("finished"),
            }
        )
    return pd.DataFrame(rows)


def provenance_html(manifests: list[str | Path]) -> str:
    note = (
        "<p>Full hashes, every input and output file's sha256 and the command line are in each "
        "<code>manifest.json</code>. <code>python -m r1 audit results/</code> re-hashes every artifact "
        "and checks each manifest chain back to the sources.</p>"
    )
    return _page(
        "Provenance (from manifest.json files)", _html_table(provenance_table(manifests), "artifacts") + note
    )


def build_report_assets(job) -> None:
    """Entry point of rule report_assets (r1.stages.report:report)."""
    metrics = {stage_of(p): p for p in job.inputs("rl_metrics")}
    for png in job.output["rl_curves"]:
        stage = Path(png).stem
        if stage not in metrics:
            raise ValueError(
                f"report_assets: no metrics.jsonl for RL stage {stage!r} among {sorted(metrics)}"
            )
        plot_stage(metrics[stage], png, RL_PANELS, stage)
    plot_curves(job.inputs("sft_metrics"), SFT_PANELS, job.out("sft_curves"))
    yields = {stage_of(p): p for p in job.inputs("yield_stats")}
    write_text(job.out("data_stats"), data_stats_html(job.inp("data_stats"), yields.get("cold_start")))
    write_text(job.out("generation_yield"), yield_html(yields))
    write_text(job.out("provenance"), provenance_html(job.inputs("manifests")))
