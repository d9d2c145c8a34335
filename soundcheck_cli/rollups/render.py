"""Rendering rollups (``report``) and trends (``trend``): pure functions from the JSON-like documents of
``app.rollups`` to text, one per format. ``html`` draws the trend as inline SVG (no script, no external asset).

Pass rates print as percentages with one decimal (``87.5%``), ``-`` when nothing applied. Text from the catalog
is escaped for the format (HTML, CSV quoting and formula guard, Markdown table pipes) and control characters are shown as escapes
in the table (``safe_text``).
"""

from __future__ import annotations

import csv
import html
import io
import json
from typing import Any

from soundcheck_cli.safe_text import terminal_safe

REPORT_FORMATS = ("table", "json", "csv", "markdown", "html")
TREND_FORMATS = ("table", "json", "csv", "markdown", "html")
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf")


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any) -> Any:
    """A CSV text cell that a spreadsheet will not run as a formula (OWASP "CSV injection"; as the csv reporter)."""
    return "'" + value if isinstance(value, str) and value.startswith(_FORMULA_START) else value


def percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.1f}%"


def _levels(track: dict[str, Any]) -> str:
    return " ".join(f"{level}:{n}" for level, n in track["levels"].items())


def _md(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _report_rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [*doc["groups"], doc["total"]]


# --- report ----------------------------------------------------------------------------------------------------
def render_report(doc: dict[str, Any], fmt: str) -> str:
    return {"table": report_table, "json": lambda d: json.dumps(d, indent=2, ensure_ascii=False) + "\n",
            "csv": report_csv, "markdown": report_markdown, "html": report_html}[fmt](doc)


def _heading(doc: dict[str, Any]) -> str:
    track = f", track {doc['track']}" if doc.get("track") else ""
    return f"Rollup by {doc['by']}{track}: run {doc['run']} ({doc['timestamp']})"


def report_table(doc: dict[str, Any]) -> str:
    lines = [terminal_safe(_heading(doc)), ""]
    width = max([len(g["group"]) for g in _report_rows(doc)] + [5])
    lines.append(f"{'GROUP':<{width}}  {'ENTITIES':>8}  {'RESULTS':>7}  {'PASS':>6}  LEVELS")
    for g in _report_rows(doc):
        levels = "; ".join(f"{t['trackId']} {_levels(t)}" for t in g["tracks"])
        lines.append(terminal_safe(f"{g['group']:<{width}}  {g['entities']:>8}  {g['results']:>7}  "
                                   f"{percent(g['passRate']):>6}  {levels}"))
    lines.append("")
    lines.append("Pass rate per check:")
    for g in _report_rows(doc):
        checks = ", ".join(f"{c['checkId']} {percent(c['passRate'])}" for c in g["checks"])
        lines.append(terminal_safe(f"  {g['group']}: {checks or '(no results)'}"))
    return "\n".join(lines) + "\n"


def report_csv(doc: dict[str, Any]) -> str:
    """One row per (group, check), then one per (group, track, level): ``kind`` says which."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["group", "title", "kind", "id", "entities", "results", "passing", "pass_rate", "level", "count"])
    for g in _report_rows(doc):
        name = [cell(g["group"]), cell(g["title"])]
        writer.writerow([*name, "group", "", g["entities"], g["results"], g["passing"],
                         "" if g["passRate"] is None else g["passRate"], "", ""])
        for c in g["checks"]:
            writer.writerow([*name, "check", cell(c["checkId"]), "", c["results"], c["passing"],
                             "" if c["passRate"] is None else c["passRate"], "", ""])
        for t in g["tracks"]:
            for level, n in t["levels"].items():
                writer.writerow([*name, "level", cell(t["trackId"]), t["entities"], "", "", "", level, n])
    return out.getvalue()


def report_markdown(doc: dict[str, Any]) -> str:
    lines = [f"## {_md(_heading(doc))}", "", "| Group | Entities | Results | Pass rate | Levels |",
             "|---|---:|---:|---:|---|"]
    for g in _report_rows(doc):
        levels = "<br>".join(f"{_md(t['trackId'])}: {_levels(t)}" for t in g["tracks"])
        lines.append(f"| {_md(g['title'])} | {g['entities']} | {g['results']} | {percent(g['passRate'])} | {levels} |")
    checks = list(dict.fromkeys(c["checkId"] for g in _report_rows(doc) for c in g["checks"]))
    if checks:
        lines += ["", "| Group | " + " | ".join(_md(c) for c in checks) + " |", "|---|" + "---:|" * len(checks)]
        for g in _report_rows(doc):
            rates = {c["checkId"]: percent(c["passRate"]) for c in g["checks"]}
            lines.append(f"| {_md(g['title'])} | " + " | ".join(rates.get(c, "") for c in checks) + " |")
    return "\n".join(lines) + "\n"


_STYLE = ("body{font-family:system-ui,sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}"
          "td,th{border:1px solid #ccc;padding:.3em .6em;text-align:right}td:first-child,th:first-child"
          "{text-align:left}svg{max-width:100%}")


def _page(title: str, body: str) -> str:
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{_STYLE}</style></head><body>\n<h1>{html.escape(title)}</h1>\n{body}</body></html>\n")


def report_html(doc: dict[str, Any]) -> str:
    e = html.escape
    rows = []
    checks = list(dict.fromkeys(c["checkId"] for g in _report_rows(doc) for c in g["checks"]))
    for g in _report_rows(doc):
        rates = {c["checkId"]: percent(c["passRate"]) for c in g["checks"]}
        levels = "<br>".join(f"{e(t['trackId'])}: {e(_levels(t))}" for t in g["tracks"])
        rows.append(f"<tr><td title=\"{e(g['group'])}\">{e(g['title'])}</td><td>{g['entities']}</td>"
                    f"<td>{g['results']}</td><td>{percent(g['passRate'])}</td>"
                    + "".join(f"<td>{rates.get(c, '')}</td>" for c in checks) + f"<td>{levels}</td></tr>")
    head = ("<tr><th>Group</th><th>Entities</th><th>Results</th><th>Pass rate</th>"
            + "".join(f"<th>{e(c)}</th>" for c in checks) + "<th>Levels</th></tr>")
    return _page(_heading(doc), f"<table>\n{head}\n" + "\n".join(rows) + "\n</table>\n")


# --- trend -----------------------------------------------------------------------------------------------------
def render_trend(doc: dict[str, Any], fmt: str) -> str:
    return {"table": trend_table, "json": lambda d: json.dumps(d, indent=2, ensure_ascii=False) + "\n",
            "csv": trend_csv, "markdown": trend_markdown, "html": trend_html}[fmt](doc)


def _trend_heading(doc: dict[str, Any]) -> str:
    by = f" by {doc['by']}" if doc.get("by") else ""
    track = f", track {doc['track']}" if doc.get("track") else ""
    since = f" since {doc['since']}" if doc.get("since") else ""
    return f"Trend{by}{track}{since}: {len(doc['runs'])} run(s)"


def _highest_share(point: dict[str, Any]) -> str:
    return "; ".join(f"{t['trackId']} {_levels(t)}" for t in point["tracks"])


def trend_table(doc: dict[str, Any]) -> str:
    lines = [terminal_safe(_trend_heading(doc))]
    for s in doc["series"]:
        lines += ["", terminal_safe(s["group"])]
        for p in s["points"]:
            lines.append(terminal_safe(f"  {p['timestamp']}  {p['entities']:>6} entities  "
                                       f"{percent(p['passRate']):>6}  {_highest_share(p)}"))
    return "\n".join(lines) + "\n"


def trend_csv(doc: dict[str, Any]) -> str:
    """One row per (group, run); a column ``<track>:<level>`` per track level seen (entities at that highest
    level)."""
    columns = list(dict.fromkeys(f"{t['trackId']}:{level}" for s in doc["series"] for p in s["points"]
                                 for t in p["tracks"] for level in t["levels"]))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["group", "timestamp", "run", "entities", "results", "passing", "pass_rate", *columns])
    for s in doc["series"]:
        for p in s["points"]:
            counts = {f"{t['trackId']}:{level}": n for t in p["tracks"] for level, n in t["levels"].items()}
            writer.writerow([cell(s["group"]), p["timestamp"], p["run"], p["entities"], p["results"], p["passing"],
                             "" if p["passRate"] is None else p["passRate"], *(counts.get(c, 0) for c in columns)])
    return out.getvalue()


def trend_markdown(doc: dict[str, Any]) -> str:
    lines = [f"## {_md(_trend_heading(doc))}", "", "| Group | Time | Entities | Pass rate | Levels |",
             "|---|---|---:|---:|---|"]
    for s in doc["series"]:
        for p in s["points"]:
            lines.append(f"| {_md(s['title'])} | {p['timestamp']} | {p['entities']} | {percent(p['passRate'])} | "
                         f"{_md(_highest_share(p))} |")
    return "\n".join(lines) + "\n"


def line_chart(doc: dict[str, Any], values: Any, label: str, width: int = 720, height: int = 300) -> str:
    """An inline SVG line chart (0-100 %) of ``values(point)`` (a fraction, or None: no dot) for each series of a
    trend document; x is the run's time, the legend names each series."""
    from soundcheck_cli.facts.model import parse_timestamp

    e = html.escape
    left, right, top, bottom = 48, 16, 16, 36
    times = [parse_timestamp(r["timestamp"]).timestamp() for r in doc["runs"]]
    t0, t1 = (min(times), max(times)) if times else (0.0, 1.0)
    span = (t1 - t0) or 1.0

    def x(stamp: str) -> float:
        t = parse_timestamp(stamp).timestamp()
        return left + (width - left - right) * ((t - t0) / span if t1 > t0 else 0.5)

    def y(rate: float) -> float:
        return top + (height - top - bottom) * (1 - rate)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="{e(label)}">']
    for pct in (0, 25, 50, 75, 100):
        yy = y(pct / 100)
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#ddd"/>'
                     f'<text x="{left - 6}" y="{yy + 4:.1f}" font-size="11" text-anchor="end">{pct}%</text>')
    if doc["runs"]:
        for stamp, anchor in ((doc["runs"][0]["timestamp"], "start"), (doc["runs"][-1]["timestamp"], "end")):
            parts.append(f'<text x="{x(stamp):.1f}" y="{height - 12}" font-size="11" '
                         f'text-anchor="{anchor}">{e(stamp[:10])}</text>')
    for i, s in enumerate(doc["series"]):
        colour = COLOURS[i % len(COLOURS)]
        points = [(x(p["timestamp"]), y(v)) for p in s["points"] for v in [values(p)] if v is not None]
        if not points:
            continue
        coords = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{coords}">'
                     f'<title>{e(s["title"])}</title></polyline>')
        parts += [f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{colour}"/>' for px, py in points]
    parts.append("</svg>")
    legend = "".join(f'<li><span style="color:{COLOURS[i % len(COLOURS)]}">&#9632;</span> {e(s["title"])}</li>'
                     for i, s in enumerate(doc["series"]))
    return "".join(parts) + f'\n<ul class="legend">{legend}</ul>\n'


def trend_svg(doc: dict[str, Any]) -> str:
    """The pass rate of each series over time."""
    return line_chart(doc, lambda p: p["passRate"], "pass rate over time")


def top_level_share(track_id: str, top: str) -> Any:
    """``point -> the share of the point's entities in ``track_id`` certified at level ``top``` (None: none)."""

    def share(point: dict[str, Any]) -> float | None:
        for t in point["tracks"]:
            if t["trackId"] == track_id and t["entities"]:
                return t["levels"].get(top, 0) / t["entities"]
        return None

    return share


def level_charts(doc: dict[str, Any]) -> str:
    """Per track: the share of entities certified at the track's highest level seen, per series over time."""
    tops: dict[str, int] = {}
    for s in doc["series"]:
        for p in s["points"]:
            for t in p["tracks"]:
                for level in t["levels"]:
                    if level != "none":
                        tops[t["trackId"]] = max(tops.get(t["trackId"], 0), int(level))
    out = []
    for track_id, top in tops.items():
        out.append(f"<h2>{html.escape(track_id)}: entities at level {top}</h2>\n"
                   + line_chart(doc, top_level_share(track_id, str(top)), f"{track_id} level {top} over time"))
    return "".join(out)


def trend_html(doc: dict[str, Any]) -> str:
    e = html.escape
    rows = []
    for s in doc["series"]:
        for p in s["points"]:
            rows.append(f"<tr><td>{e(s['title'])}</td><td>{e(p['timestamp'])}</td><td>{p['entities']}</td>"
                        f"<td>{percent(p['passRate'])}</td><td>{e(_highest_share(p))}</td></tr>")
    table = ("<table>\n<tr><th>Group</th><th>Time</th><th>Entities</th><th>Pass rate</th><th>Levels</th></tr>\n"
             + "\n".join(rows) + "\n</table>\n")
    return _page(_trend_heading(doc), "<h2>Pass rate</h2>\n" + trend_svg(doc) + level_charts(doc) + table)
