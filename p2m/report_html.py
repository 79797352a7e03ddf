"""report.html: the run's report as one self-contained page (inline SVG plots, no scripts, no network).

Plots where people would rather look than read: teacher vs student with 95% CIs, the confusion matrix
(classification), verifier score distributions of the kept examples, the training loss curve and the
teacher's tokens per stage; then a few predictions the student got right and wrong.
"""

from __future__ import annotations

from collections import Counter
from html import escape

from p2m.metrics import headline, main_metric
from p2m.tasks import kind_of

STYLE = (
    "body{font:14px system-ui,sans-serif;max-width:900px;margin:2em auto;color:#222}h2{margin-top:1.6em}"
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}"
    "svg text{font:11px system-ui,sans-serif}.ok{color:#176b2c}.bad{color:#a11}"
)
COLORS = {"teacher": "#8a8f98", "student": "#2f6fdf"}


def bars_with_ci(items: list[tuple[str, float, tuple[float, float], str]], width: int = 420) -> str:
    """Horizontal bars in [0, 1], each with its 95% interval as a whisker."""
    row, left = 28, 70
    parts = [f'<svg width="{width}" height="{row * len(items) + 20}">']
    scale = width - left - 40
    for i, (name, value, (low, high), color) in enumerate(items):
        y = 8 + i * row
        parts += [
            f'<text x="0" y="{y + 14}">{escape(name)}</text>',
            f'<rect x="{left}" y="{y}" width="{value * scale:.1f}" height="18" fill="{color}"/>',
            f'<line x1="{left + low * scale:.1f}" x2="{left + high * scale:.1f}" y1="{y + 9}" y2="{y + 9}" stroke="#000"/>',
            f'<text x="{left + value * scale + 6:.1f}" y="{y + 14}">{value:.3f}</text>',
        ]
    return "".join(parts) + "</svg>"


def heatmap(labels: list[str], pairs: list[tuple[str, str]]) -> str:
    """Confusion matrix, gold in rows, prediction in columns; darker = more items."""
    counts = Counter(pairs)
    top, cell, left = max(counts.values(), default=1), 34, 110
    parts = [f'<svg width="{left + cell * len(labels) + 10}" height="{70 + cell * len(labels)}">']
    for j, label in enumerate(labels):
        parts.append(
            f'<text x="{left + j * cell + 4}" y="60" transform="rotate(-35 {left + j * cell + 4} 60)">{escape(label[:14])}</text>'
        )
    for i, gold in enumerate(labels):
        y = 66 + i * cell
        parts.append(f'<text x="0" y="{y + 20}">{escape(gold[:16])}</text>')
        for j, predicted in enumerate(labels):
            n = counts[(gold, predicted)]
            shade = int(255 - 200 * n / top)
            parts += [
                f'<rect x="{left + j * cell}" y="{y}" width="{cell - 2}" height="{cell - 2}" fill="rgb({shade},{shade},255)"/>',
                f'<text x="{left + j * cell + 10}" y="{y + 20}">{n}</text>',
            ]
    return "".join(parts) + "</svg>"


def histogram(values: list[float], bins: int = 10, width: int = 260, height: int = 80) -> str:
    counts = Counter(min(int(v * bins), bins - 1) for v in values)
    top, bar = max(counts.values(), default=1), width / bins
    parts = [f'<svg width="{width}" height="{height + 16}">']
    for b in range(bins):
        h = height * counts[b] / top
        parts.append(
            f'<rect x="{b * bar:.1f}" y="{height - h:.1f}" width="{bar - 1:.1f}" height="{h:.1f}" fill="#2f6fdf"/>'
        )
    return (
        "".join(parts) + f'<text x="0" y="{height + 13}">0</text><text x="{width - 8}" y="{height + 13}">1</text></svg>'
    )


def line_chart(values: list[float], width: int = 420, height: int = 120) -> str:
    if len(values) < 2:
        return "<p>(too few steps to plot)</p>"
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    points = " ".join(
        f"{i * width / (len(values) - 1):.1f},{height - (v - low) / span * height + 4:.1f}"
        for i, v in enumerate(values)
    )
    return (
        f'<svg width="{width}" height="{height + 24}"><polyline points="{points}" fill="none" stroke="#2f6fdf"/>'
        f'<text x="0" y="{height + 20}">loss {values[0]:.3f} → {values[-1]:.3f} over {len(values)} logged steps</text></svg>'
    )


def table(rows: list[list], header: list[str]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def render_html(report: dict, predictions: list[dict], train_rows: list[dict], tokens_by_stage: dict[str, int]) -> str:
    spec, scores = report["spec"], {role: report[role]["metrics"]["all"] for role in ("teacher", "student")}
    sections = [
        f"<h1>p2m report</h1><p>{escape(report['task'])}</p>",
        f"<p>Task type <b>{escape(spec['task_type'])}</b>; {report['n_test']} held-out items; student "
        f"<code>{escape(report['student']['model'])}</code>, teacher <code>{escape(report['teacher']['model'])}</code>.</p>",
    ]
    sections += score_sections(report, scores)
    if kind_of(spec["task_type"]).labelled and predictions:
        sections += [
            "<h2>Student confusion matrix (gold rows, predicted columns)</h2>",
            heatmap(spec["labels"], [(p["gold"], p["student"]) for p in predictions]),
        ]
    verifiers = sorted({name for row in train_rows for name in row.get("scores", {})})
    if verifiers:
        cells = [
            [escape(name), histogram([row["scores"][name] for row in train_rows if name in row.get("scores", {})])]
            for name in verifiers
        ]
        sections += [
            "<h2>Verifier scores of the kept training examples</h2>",
            table(cells, ["verifier", "score of the target (0-1)"]),
        ]
    sections += ["<h2>Training curve</h2>", line_chart(report["training"].get("loss_curve") or [])]
    if tokens_by_stage:
        total = max(sum(tokens_by_stage.values()), 1)
        sections += [
            "<h2>Teacher tokens by stage</h2>",
            bars_with_ci(
                [(stage, n / total, (n / total, n / total), "#8a8f98") for stage, n in tokens_by_stage.items()]
            ),
            f"<p>{total} tokens in all; cost: {report['ledger']['cost_usd'] if report['ledger']['cost_usd'] is not None else 'no price known'}.</p>",
        ]
    sections += example_sections(predictions)
    return f'<!doctype html><html><head><meta charset="utf-8"><title>p2m report</title><style>{STYLE}</style></head><body>{"".join(sections)}</body></html>'


def score_sections(report: dict, scores: dict) -> list[str]:
    """Teacher and student side by side: the main metric with its CI (where there are items), then a table."""
    sections = []
    if report["n_test"]:
        main = main_metric(scores["student"])
        bars = [
            (role, scores[role][main], tuple(scores[role][f"{main}_ci95"]), COLORS[role])
            for role in ("teacher", "student")
        ]
        sections += [f"<h2>Teacher vs student ({escape(main)}, 95% CI)</h2>", bars_with_ci(bars)]
    rows = [
        [role, escape(headline(scores[role])), f"{report[role]['latency_ms']:.1f}", report[role].get("params") or "?"]
        for role in ("teacher", "student")
    ]
    return sections + [table(rows, ["", "metrics", "ms / item", "params"])]


def example_sections(predictions: list[dict]) -> list[str]:
    """Up to four items the student got right and four it got wrong."""
    right = [p for p in predictions if str(p["student"]).strip().lower() == str(p["gold"]).strip().lower()][:4]
    wrong = [p for p in predictions if str(p["student"]).strip().lower() != str(p["gold"]).strip().lower()][:4]
    examples = [
        [
            f'<span class="{cls}">{mark}</span>',
            escape(p["input"][:200]),
            escape(str(p["gold"])),
            escape(str(p["teacher"])),
            escape(str(p["student"])),
        ]
        for cls, mark, group in (("ok", "right", right), ("bad", "wrong", wrong))
        for p in group
    ]
    return ["<h2>Example predictions</h2>", table(examples, ["student", "input", "gold", "teacher", "student answer"])]
