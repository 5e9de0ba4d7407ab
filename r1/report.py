"""Report assets for `snakemake --report`: training curves (PNG), data and yield tables and provenance (HTML)."""

from __future__ import annotations

import html
import json
from pathlib import Path

import pandas as pd

from r1.atomic import atomic_path, write_text

RL_KEYS = [("reward", "total reward"), ("kl", "KL"), ("completions/mean_length", "mean completion length")]


def read_metrics(path: str | Path) -> pd.DataFrame:
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    return pd.DataFrame(rows)


def _stage(path: str) -> str:
    p = Path(path)
    return p.parent.name if p.parent.name != "students" else p.parent.parent.name


def plot_curves(metric_files: list[str], keys: list[tuple[str, str]], png: str, per_reward: bool) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(metric_files), len(keys), figsize=(4.2 * len(keys), 3.0 * len(metric_files)),
                             squeeze=False)
    for row, path in enumerate(metric_files):
        df = read_metrics(path)
        stage = _stage(path)
        for col, (key, label) in enumerate(keys):
            ax = axes[row][col]
            if not df.empty and key in df:
                d = df.dropna(subset=[key])
                ax.plot(d["step"], d[key], marker="o", label=key)
                if per_reward and key == "reward":
                    for rk in [c for c in df.columns if c.startswith("rewards/") and c.endswith("/mean")]:
                        d = df.dropna(subset=[rk])
                        ax.plot(d["step"], d[rk], marker=".", linestyle="--", label=rk.split("/")[1])
                    ax.legend(fontsize=7)
            else:
                ax.text(0.5, 0.5, f"no '{key}' logged", ha="center", va="center", transform=ax.transAxes)
            ax.set_title(f"{stage}: {label}", fontsize=9)
            ax.set_xlabel("step")
    fig.tight_layout()
    with atomic_path(png) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)


def _html_table(df: pd.DataFrame, title: str) -> str:
    return f"<h3>{html.escape(title)}</h3>\n" + df.to_html(index=False, border=1, na_rep="")


def _page(title: str, body: str) -> str:
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            "<style>body{font-family:sans-serif}table{border-collapse:collapse}td,th{padding:3px 8px}</style>"
            f"</head><body><h2>{html.escape(title)}</h2>\n{body}\n</body></html>\n")


def data_stats_html(stats_path: str) -> str:
    stats = json.loads(Path(stats_path).read_text())
    df = pd.DataFrame([{"source": k, **v} for k, v in stats["sources"].items()])
    totals = {k: stats[k] for k in ("train", "eval", "quarantined", "contaminated")}
    return _page("Prompt data by source", _html_table(df, "per source") + "<p>totals: "
                 + html.escape(json.dumps(totals)) + "</p>")


def yield_html(stage_stats: dict[str, str]) -> str:
    rows = []
    for stage, path in stage_stats.items():
        s = json.loads(Path(path).read_text())
        f = s.get("filter", {})
        rows.append({"stage": stage, "samples": f.get("n_samples"), "kept": f.get("kept"),
                     "yield": round(f.get("kept", 0) / f["n_samples"], 3) if f.get("n_samples") else None,
                     **{k: v for k, v in f.items() if k.startswith("dropped_")},
                     "sft_rows": s.get("dataset_rows", s.get("reasoning_rows"))})
    return _page("Generate-and-filter yield", _html_table(pd.DataFrame(rows), "per stage"))


def provenance_html(manifests: list[str]) -> str:
    rows = []
    for path in manifests:
        m = json.loads(Path(path).read_text())
        v = m.get("versions", {})
        rows.append({"artifact": str(Path(path).parent), "rule": m.get("rule"),
                     "config_sha256": (m.get("config_sha256") or "")[:12], "code_sha256": (m.get("code_sha256") or "")[:12],
                     "seed": m.get("seed"), "torch": v.get("torch"), "transformers": v.get("transformers"),
                     "trl": v.get("trl"), "r1": v.get("r1"), "host": m.get("host"), "finished": m.get("finished")})
    return _page("Provenance (from manifest.json files)", _html_table(pd.DataFrame(rows), "artifacts"))


def build_report_assets(job) -> None:
    rl_keys = [("reward", "reward (and per-reward means)"), *RL_KEYS[1:]]
    plot_curves(job.inputs("rl_metrics"), rl_keys, job.out("rl_curves"), per_reward=True)
    plot_curves(job.inputs("sft_metrics"), [("loss", "training loss")], job.out("sft_curves"), per_reward=False)
    write_text(job.out("data_stats"), data_stats_html(job.inp("data_stats")))
    write_text(job.out("generation_yield"), yield_html({
        "cold_start": job.inp("cold_start_stats"), "rejection_sampling": job.inp("rejection_stats"),
        "distill": job.inp("distill_stats")}))
    write_text(job.out("provenance"), provenance_html(job.inputs("manifests")))
