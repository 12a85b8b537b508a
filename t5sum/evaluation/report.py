"""report.md and a self-contained report.html (inline CSS, images as data URIs, no external URL)."""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from t5sum.evaluation import plots
from t5sum.evaluation.coverage import coverage_table
from t5sum.evaluation.evaluator import CI_METRICS, EvalData
from t5sum.evaluation.systems import RunInfo
from t5sum.metrics import ROUGE_KEYS, count_words

RANDOM_INIT_WARNING = (
    "Random-init weights: these models were built from an architecture config with random weights, not "
    "pretrained checkpoints. The numbers show that the pipeline learns; they say nothing about real "
    "summarization quality."
)
DELTA_METRIC = "rougeLsum"


@dataclass
class Table:
    title: str
    header: list[str]
    rows: list[list[str]]
    note: str = ""


@dataclass
class Report:
    markdown: Path
    html: Path
    plots: dict[str, Path] = field(default_factory=dict)


def fmt(metric: str, value: float | None) -> str:
    """One number format per metric, shared by every table (so report and metrics.json agree)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    if metric.endswith("share"):
        return f"{100 * value:.1f}%"
    if metric == "compression_ratio":
        return f"{value:.3f}"
    if metric in ("gen_len", "examples_per_second", "mean_source_tokens", "mean_document_tokens"):
        return f"{value:.1f}"
    return f"{value:.2f}"


def fmt_number(value: float | None, digits: int = 1) -> str:
    """A plain quantity (sizes, seconds, counts) with thousands separators; n/a when unknown."""
    return "n/a" if value is None else f"{value:,.{digits}f}"


def fmt_p(p: float) -> str:
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def metric_tables(result: Mapping[str, Any]) -> list[Table]:
    metrics, ci = result["metrics"], result["ci"]
    level = f"{100 * result['bootstrap']['confidence']:.0f}% CI"
    tables = []
    if result.get("comparison"):
        rows = []
        for metric in CI_METRICS:
            c = result["comparison"][metric]
            rows.append(
                [
                    metric,
                    fmt(metric, c["baseline"]),
                    fmt(metric, c["fine_tuned"]),
                    ("+" if c["improvement"] >= 0 else "") + fmt(metric, c["improvement"]),
                    f"[{fmt(metric, c['ci_low'])}, {fmt(metric, c['ci_high'])}]",
                    fmt_p(c["p_value"]),
                ]
            )
        tables.append(
            Table(
                "Baseline vs fine-tuned",
                ["metric", "baseline", "fine-tuned", "improvement", f"{level} (improvement)", "p (paired)"],
                rows,
                note=(
                    f"Paired bootstrap over the {result['num_examples']} examples "
                    f"({result['bootstrap']['samples']} resamples). ROUGE is F1 x 100, BLEU is corpus BLEU, "
                    "gen_len counts generated tokens, compression_ratio is summary words / document words."
                ),
            )
        )
    else:
        rows = [[m, fmt(m, metrics[m]), f"[{fmt(m, ci[m][0])}, {fmt(m, ci[m][1])}]"] for m in CI_METRICS]
        tables.append(Table("Scores", ["metric", "value", level], rows))
    detail_rows = []
    systems = [("fine-tuned", metrics)]
    if result.get("baseline_metrics"):
        systems.insert(0, ("baseline", result["baseline_metrics"]))
    for key in ROUGE_KEYS:
        for part in ("precision", "recall"):
            detail_rows.append([f"{key} {part}"] + [fmt(key, m[f"{key}_{part}"]) for _, m in systems])
    for key in (
        "hit_max_new_tokens_share",
        "source_truncated_share",
        "kept_token_share",
        "mean_source_tokens",
        "mean_document_tokens",
        "examples_per_second",
    ):
        detail_rows.append([key] + [fmt(key, m.get(key)) for _, m in systems])
    tables.append(Table("Details", ["metric"] + [name for name, _ in systems], detail_rows))
    if result.get("long_input_coverage"):
        header, rows = coverage_table(result["long_input_coverage"])
        note = (
            "Model-free: the model input (decoded; every window under chunk_merge) vs the first reference, "
            "with rouge-score's tokenizer and stemmer. Shown because many documents exceed the budget; "
            "python scripts/long_input_report.py prints it for any dataset."
        )
        tables.append(Table("Long inputs: what each strategy keeps", header, rows, note=note))
    return tables


def pick_examples(rows: Sequence[Mapping[str, Any]], k: int) -> list[int]:
    """Deterministic: the best and the worst by ROUGE-Lsum change (or score, without a baseline), then
    evenly spaced ranks between them; ties are broken by position."""
    key = f"{DELTA_METRIC}_f"

    def value(row: Mapping[str, Any]) -> float:
        base = row.get("baseline_scores")
        return row["scores"][key] - (base[key] if base else 0.0)

    ranked = sorted(range(len(rows)), key=lambda i: (-value(rows[i]), i))
    if len(ranked) <= k:
        return ranked
    best, worst = max(1, k // 3), max(1, k // 3)
    middle = k - best - worst
    inner = ranked[best : len(ranked) - worst]
    picks = np.linspace(0, len(inner) - 1, middle).round().astype(int) if middle > 0 else []
    return ranked[:best] + [inner[i] for i in picks] + ranked[len(ranked) - worst :]


def example_table(rows: Sequence[Mapping[str, Any]], data: EvalData, k: int, excerpt_chars: int) -> Table:
    with_baseline = "baseline_prediction" in rows[0] if rows else False
    header = ["id", "document (excerpt)", "reference"]
    header += ["baseline", "fine-tuned", "Lsum change"] if with_baseline else ["generated", "Lsum"]
    out = []
    key = f"{DELTA_METRIC}_f"
    for i in pick_examples(rows, k):
        row = rows[i]
        doc = data.documents[i]
        excerpt = doc if len(doc) <= excerpt_chars else doc[:excerpt_chars].rsplit(" ", 1)[0] + " ..."
        cells = [row["id"], excerpt, row["reference"]]
        if with_baseline:
            change = 100 * (row["scores"][key] - row["baseline_scores"][key])
            cells += [row["baseline_prediction"], row["prediction"], f"{change:+.1f}"]
        else:
            cells += [row["prediction"], f"{100 * row['scores'][key]:.1f}"]
        out.append(cells)
    title = "Examples: best and worst by ROUGE-Lsum change, and between" if with_baseline else "Examples"
    return Table(title, header, out)


def read_training_log(run: RunInfo | None) -> pd.DataFrame | None:
    """The CSV logger's metrics.csv of the run (logger=csv, the default); None when there is none."""
    if run is None:
        return None
    path = run.path / "csv" / "metrics.csv"
    return pd.read_csv(path) if path.is_file() else None


def make_plots(
    out_dir: Path, rows: Sequence[Mapping[str, Any]], data: EvalData, log: pd.DataFrame | None
) -> dict[str, Path]:
    folder = out_dir / "plots"
    folder.mkdir(exist_ok=True)
    figures: dict[str, Path | None] = {}
    if log is not None:
        figures["loss"] = plots.loss_curves(log, folder / "loss.png")
        figures["val_rouge"] = plots.metric_curves(log, folder / "val_rouge.png", ROUGE_KEYS)
    lengths = {"reference": [count_words(r) for r in data.first_references]}
    if rows and "baseline_prediction" in rows[0]:
        lengths["baseline"] = [count_words(r["baseline_prediction"]) for r in rows]
    lengths["fine-tuned"] = [count_words(r["prediction"]) for r in rows]
    figures["lengths"] = plots.length_histograms(lengths, folder / "lengths.png")
    if rows and "baseline_scores" in rows[0]:
        key = f"{DELTA_METRIC}_f"
        figures["paired"] = plots.paired_scatter(
            [100 * r["baseline_scores"][key] for r in rows],
            [100 * r["scores"][key] for r in rows],
            DELTA_METRIC,
            folder / "paired.png",
        )
    return {name: path for name, path in figures.items() if path is not None}


PLOT_TITLES = {
    "loss": "Training and validation loss",
    "val_rouge": "Validation ROUGE by step",
    "lengths": "Length of references and outputs",
    "paired": "Per-example ROUGE-Lsum",
}


def summary_lines(result: Mapping[str, Any]) -> list[str]:
    model = result["model"]
    lines = [
        f"Model: {model['source']} ({result['backend']})",
        f"Data: {result['dataset']} / {result['split']}, {result['num_examples']} examples",
        "Generation: " + ", ".join(f"{k}={v}" for k, v in result["generation"].items() if v is not None),
    ]
    if result.get("baseline"):
        lines.insert(1, f"Baseline: {result['baseline']['source']}")
    long_input = result.get("long_input")
    if long_input:
        share = result["metrics"].get("source_truncated_share")
        lines.append(
            f"Long inputs: {long_input['strategy']} at {long_input['budget']} tokens changed "
            f"{fmt('source_truncated_share', share)} of the documents"
        )
    profile = result["metric_profile"]
    if profile.get("references_per_example", 1) > 1:
        rule = (
            "ROUGE and BLEU use the first only"
            if profile["multi_ref"] == "first"
            else f"ROUGE takes the {profile['multi_ref']} over them, BLEU uses all"
        )
        lines.append(f"References: {profile['references_per_example']:.1f} per example, {rule}")
    lines.append(
        f"Scoring: {profile['scorer']} {profile['scorer_version']}, stemming={profile['stemming']}, "
        f"Lsum sentences by {profile['sentence_splitter']}; BLEU: {profile['bleu']}"
    )
    return lines


def is_random_init(result: Mapping[str, Any]) -> bool:
    return bool(result["model"].get("random_init") or (result.get("baseline") or {}).get("random_init"))


def render_markdown(
    result: Mapping[str, Any], tables: Sequence[Table], figures: Mapping[str, Path], examples: Table
) -> str:
    out = [f"# Evaluation: {result['model']['label']} on {result['dataset']} / {result['split']}", ""]
    if is_random_init(result):
        out += [f"> **{RANDOM_INIT_WARNING}**", ""]
    out += [f"- {line}" for line in summary_lines(result)] + [""]
    for table in tables:
        out += table_markdown(table)
    for name, path in figures.items():
        out += [f"## {PLOT_TITLES[name]}", "", f"![{PLOT_TITLES[name]}](plots/{path.name})", ""]
    return "\n".join(out + table_markdown(examples))


def table_markdown(table: Table) -> list[str]:
    out = [f"## {table.title}", "", "| " + " | ".join(table.header) + " |"]
    out.append("|" + "|".join("---" for _ in table.header) + "|")
    out += ["| " + " | ".join(_md_cell(cell) for cell in row) + " |" for row in table.rows]
    if table.note:
        out += ["", table.note]
    return [*out, ""]


def _md_cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;
color:#222;line-height:1.45;padding:0 1rem}
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}
th,td{border:1px solid #ddd;padding:.3rem .6rem;vertical-align:top;text-align:left;overflow-wrap:anywhere}
th{background:#f4f4f4}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.warn{background:#fff4e5;border-left:4px solid #f0a030;padding:.6rem 1rem;margin:1rem 0}
.note{color:#555;font-size:.85rem}ul.meta{color:#444;font-size:.9rem}
.examples td{max-width:280px;font-size:.82rem}.pos{color:#1a7f37}.neg{color:#c62828}
figure{margin:1rem 0}figure img{max-width:100%;border:1px solid #eee}
"""


def _is_number(cell: str) -> bool:
    return bool(cell) and (cell[0] in "+-[<" or cell[0].isdigit())


def render_html(
    result: Mapping[str, Any], tables: Sequence[Table], figures: Mapping[str, Path], examples: Table
) -> str:
    esc = html.escape
    title = f"Evaluation: {result['model']['label']} on {result['dataset']} / {result['split']}"
    parts = []
    if is_random_init(result):
        parts.append(f"<div class='warn'><strong>{esc(RANDOM_INIT_WARNING)}</strong></div>")
    parts.append("<ul class='meta'>" + "".join(f"<li>{esc(x)}</li>" for x in summary_lines(result)) + "</ul>")
    parts += [table_html(table) for table in tables]
    for name, path in figures.items():
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        parts.append(
            f"<h2>{esc(PLOT_TITLES[name])}</h2><figure><img alt='{esc(PLOT_TITLES[name])}' "
            f"src='data:image/png;base64,{data}'></figure>"
        )
    return page_html(title, [*parts, table_html(examples)])


def page_html(title: str, body: Sequence[str]) -> str:
    esc = html.escape
    head = f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{esc(title)}</title>"
    return "\n".join(
        [f"{head}<style>{CSS}</style></head><body>", f"<h1>{esc(title)}</h1>", *body, "</body></html>"]
    )


def table_html(table: Table) -> str:
    esc = html.escape
    css = " class='examples'" if table.title.startswith("Examples") else ""
    parts = [f"<h2>{esc(table.title)}</h2><table{css}><thead><tr>"]
    parts += [f"<th>{esc(h)}</th>" for h in table.header]
    parts.append("</tr></thead><tbody>")
    for row in table.rows:
        cells = []
        for cell in map(str, row):
            klass = "num" if _is_number(cell) else ""
            if cell[:1] in "+-" and cell[1:2].isdigit():
                klass += " pos" if cell[0] == "+" else " neg"
            cells.append(f"<td class='{klass.strip()}'>{esc(cell)}</td>")
        parts.append("<tr>" + "".join(cells) + "</tr>")
    parts.append("</tbody></table>")
    if table.note:
        parts.append(f"<p class='note'>{esc(table.note)}</p>")
    return "".join(parts)


def write_report(
    out_dir: Path,
    result: Mapping[str, Any],
    rows: Sequence[Mapping[str, Any]],
    data: EvalData,
    run: RunInfo | None,
    settings: Mapping[str, Any],
) -> Report:
    figures = make_plots(out_dir, rows, data, read_training_log(run))
    tables = metric_tables(result)
    examples = example_table(rows, data, int(settings["examples"]), int(settings["excerpt_chars"]))
    report = Report(out_dir / "report.md", out_dir / "report.html", figures)
    report.markdown.write_text(render_markdown(result, tables, figures, examples))
    report.html.write_text(render_html(result, tables, figures, examples))
    return report
