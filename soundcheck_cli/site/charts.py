"""Small inline SVG charts, written by hand (no script, no chart library): a line of a rate over runs, and a
stacked bar of how many entities reached each level. Each chart has ``role="img"`` and a text label naming what
it shows; the pages print the same figures as text or tables beside it, for readers who do not see the chart.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

# Level colours from "none" (red) to the top level (green); readable on white with a dark outline.
LEVEL_FILLS = ("#cf222e", "#fb8f44", "#d4a72c", "#8ac926", "#2da44e", "#116329")


def level_fill(position: int, count: int) -> str:
    """The fill of level ``position`` (0 = none) of a track with ``count`` levels."""
    if position <= 0:
        return LEVEL_FILLS[0]
    if count <= 1:
        return LEVEL_FILLS[-1]
    steps = len(LEVEL_FILLS) - 1
    return LEVEL_FILLS[1 + round((position - 1) * (steps - 1) / (count - 1))]


def rate_line(points: Sequence[tuple[str, float | None]], label: str, width: int = 560, height: int = 140) -> str:
    """A line of rates (0..1) over runs: ``points`` is ``[(run label, rate or None)]``, oldest first."""
    pad_l, pad_r, pad_t, pad_b = 40, 10, 10, 24
    inner_w, inner_h = width - pad_l - pad_r, height - pad_t - pad_b
    n = len(points)
    parts = [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}" role="img" aria-label="{escape(label)}"><title>{escape(label)}</title>']
    for pct in (0, 50, 100):
        y = pad_t + inner_h * (1 - pct / 100)
        parts.append(f'<line x1="{pad_l}" x2="{width - pad_r}" y1="{y:.1f}" y2="{y:.1f}" stroke="#d0d7de"/>'
                     f'<text x="{pad_l - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" fill="#424a53">'
                     f'{pct}%</text>')
    xy = []
    for i, (name, rate) in enumerate(points):
        x = pad_l + (inner_w * i / (n - 1) if n > 1 else inner_w / 2)
        if rate is None:
            continue
        y = pad_t + inner_h * (1 - rate)
        xy.append((x, y, name, rate))
    if len(xy) > 1:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _, _ in xy)
        parts.append(f'<polyline points="{path}" fill="none" stroke="#0969da" stroke-width="2"/>')
    for x, y, name, rate in xy:
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="#0969da"><title>{escape(name)}: '
                     f'{rate * 100:.1f}%</title></circle>')
    if points:
        parts.append(f'<text x="{pad_l}" y="{height - 6}" font-size="11" fill="#424a53">{escape(points[0][0])}</text>')
        if n > 1:
            parts.append(f'<text x="{width - pad_r}" y="{height - 6}" font-size="11" fill="#424a53" '
                         f'text-anchor="end">{escape(points[-1][0])}</text>')
    parts.append("</svg>")
    return "".join(parts)


def stacked_bar(segments: Sequence[tuple[str, int, str]], label: str, width: int = 240, height: int = 16) -> str:
    """One horizontal bar split into ``segments`` ``[(name, count, fill)]`` proportionally."""
    total = sum(c for _, c, _ in segments) or 1
    parts = [f'<svg class="bar" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
             f'height="{height}" role="img" aria-label="{escape(label)}"><title>{escape(label)}</title>']
    x = 0.0
    for name, count, fill in segments:
        if count <= 0:
            continue
        w = width * count / total
        parts.append(f'<rect x="{x:.2f}" width="{w:.2f}" height="{height}" fill="{fill}">'
                     f'<title>{escape(name)}: {count}</title></rect>')
        x += w
    parts.append("</svg>")
    return "".join(parts)


def stacked_columns(columns: Sequence[tuple[str, Sequence[int]]], names: Sequence[str], fills: Sequence[str],
                    label: str, width: int = 560, height: int = 140) -> str:
    """One stacked column per run: ``columns`` is ``[(run label, counts per level)]``, oldest first; every column
    is scaled to 100 % (the share of entities at each level)."""
    pad_l, pad_r, pad_t, pad_b = 40, 10, 10, 24
    inner_w, inner_h = width - pad_l - pad_r, height - pad_t - pad_b
    n = max(len(columns), 1)
    slot = inner_w / n
    bar = max(2.0, min(40.0, slot * 0.7))
    parts = [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}" role="img" aria-label="{escape(label)}"><title>{escape(label)}</title>']
    for pct in (0, 50, 100):
        y = pad_t + inner_h * (1 - pct / 100)
        parts.append(f'<text x="{pad_l - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" fill="#424a53">'
                     f'{pct}%</text>')
    for i, (run, counts) in enumerate(columns):
        total = sum(counts)
        if not total:
            continue
        x = pad_l + slot * i + (slot - bar) / 2
        y = pad_t + inner_h
        for name, count, fill in zip(names, counts, fills):
            if count <= 0:
                continue
            h = inner_h * count / total
            y -= h
            parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" fill="{fill}">'
                         f'<title>{escape(run)} - {escape(name)}: {count}</title></rect>')
    if columns:
        parts.append(f'<text x="{pad_l}" y="{height - 6}" font-size="11" fill="#424a53">{escape(columns[0][0])}</text>')
        if len(columns) > 1:
            parts.append(f'<text x="{width - pad_r}" y="{height - 6}" font-size="11" fill="#424a53" '
                         f'text-anchor="end">{escape(columns[-1][0])}</text>')
    parts.append("</svg>")
    return "".join(parts)
