"""The ``html`` format: one self-contained page (inline CSS, JS and SVG; a Content-Security-Policy that forbids
any network access), readable offline or as a CI artifact:

- a summary (results by state);
- per track, the level distribution as an SVG bar chart (how many entities reached each level as their highest);
- a sortable, filterable table of entities: kind, owner, level reached in each track, results by state;
- per entity, its check details (state, tracks and levels, message, missing facts) in a ``<details>`` block.

Every value from config, catalog or facts goes through ``html.escape`` (text and attributes alike); the script
reads only the DOM, so no data is ever embedded in JavaScript. ``docs/screenshot_html_report.py`` renders the
sample in headless Chromium.
"""

from __future__ import annotations

import html
from collections import defaultdict
from typing import Any

from soundcheck_cli.facts.model import format_timestamp
from soundcheck_cli.reporters import ReportWriter, render_whole
from soundcheck_cli.reporters.common import (
    NO_LEVEL,
    NOT_PASSING,
    SKIPPED,
    build_index,
    clean_text,
    level_distribution,
    level_label,
    message_of,
    owner_of,
    reached_label,
    redacted,
    results_by_entity,
    source_of,
    state_counts,
    summary_text,
    track_rows,
)
from soundcheck_cli.reporters.spool import Spool
from soundcheck_cli.results import RunReport
from soundcheck_cli.rules.model import CheckState
from soundcheck_cli.tracks.model import Track, TrackResult

CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"
NONE_COLOR = "#c62828"
LEVEL_COLORS = ("#ef6c00", "#f9a825", "#9e9d24", "#558b2f", "#2e7d32", "#1b5e20")

CSS = """
:root { --fg:#1f2328; --muted:#59636e; --line:#d1d9e0; --bg:#fff; --head:#f6f8fa; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); margin: 0;
       padding: 24px 32px; background: var(--bg); }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 18px; margin: 28px 0 10px; }
.meta { color: var(--muted); margin: 0 0 12px; }
.chips { display: flex; flex-wrap: wrap; gap: 6px; }
.chip { border-radius: 12px; padding: 2px 10px; font-weight: 600; font-size: 12px; }
.cards { display: flex; flex-wrap: wrap; gap: 16px; }
figure.track { margin: 0; border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; width: 400px; }
figure.track figcaption { font-weight: 600; margin-bottom: 6px; }
figure.track figcaption code { font-weight: 400; color: var(--muted); }
figure.track p { margin: 6px 0 0; color: var(--muted); font-size: 12px; }
svg.chart text { font: 11px system-ui, sans-serif; fill: var(--fg); }
table { border-collapse: collapse; width: 100%; }
th, td { border-bottom: 1px solid var(--line); padding: 5px 8px; text-align: left; vertical-align: top; }
th { background: var(--head); position: sticky; top: 0; }
table.sortable th { cursor: pointer; user-select: none; white-space: nowrap; }
table.sortable th[aria-sort=ascending]::after { content: " \\25B2"; font-size: 10px; }
table.sortable th[aria-sort=descending]::after { content: " \\25BC"; font-size: 10px; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
#filter { padding: 6px 10px; width: 320px; margin-bottom: 8px; border: 1px solid var(--line); border-radius: 6px; }
details.entity { border: 1px solid var(--line); border-radius: 6px; margin: 6px 0; padding: 4px 10px; }
details.entity > summary { cursor: pointer; font-weight: 600; }
details.entity table { margin: 8px 0; }
.src { color: var(--muted); font-size: 12px; }
.state { font-weight: 600; white-space: nowrap; }
.s-passed { color: #1a7f37; } .s-failed { color: #cf222e; } .s-warning { color: #9a6700; }
.s-not-applicable { color: #59636e; } .s-not-reported { color: #8250df; } .s-error { color: #a40e26; }
.s-exempt { color: #0969da; }
.chip.s-passed { background: #dafbe1; } .chip.s-failed { background: #ffebe9; } .chip.s-warning { background: #fff8c5; }
.chip.s-not-applicable { background: #eaeef2; } .chip.s-not-reported { background: #fbefff; }
.chip.s-error { background: #ffebe9; } .chip.s-exempt { background: #ddf4ff; }
.lvl-none { color: #cf222e; }
pre { white-space: pre-wrap; margin: 0; font: inherit; }
"""

# Sorting and filtering read the DOM only (cells' data-sort or text), so no report data is embedded in script.
SCRIPT = """
(function () {
  var table = document.getElementById('entity-table');
  if (table) {
    var headers = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(headers, function (th, col) {
      th.addEventListener('click', function () {
        var asc = th.getAttribute('aria-sort') !== 'ascending';
        Array.prototype.forEach.call(headers, function (h) { h.removeAttribute('aria-sort'); });
        th.setAttribute('aria-sort', asc ? 'ascending' : 'descending');
        var numeric = th.getAttribute('data-type') === 'num';
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        function key(row) {
          var cell = row.cells[col];
          var v = cell.hasAttribute('data-sort') ? cell.getAttribute('data-sort') : cell.textContent;
          return numeric ? parseFloat(v) : v.toLowerCase();
        }
        rows.sort(function (a, b) {
          var x = key(a), y = key(b);
          if (numeric) { x = isNaN(x) ? -Infinity : x; y = isNaN(y) ? -Infinity : y; }
          return (x < y ? -1 : x > y ? 1 : 0) * (asc ? 1 : -1);
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  }
  var filter = document.getElementById('filter');
  if (filter && table) {
    filter.addEventListener('input', function () {
      var q = filter.value.toLowerCase();
      Array.prototype.forEach.call(table.tBodies[0].rows, function (r) {
        r.style.display = r.textContent.toLowerCase().indexOf(q) >= 0 ? '' : 'none';
      });
    });
  }
  function openHash() {
    var target = location.hash ? document.getElementById(location.hash.slice(1)) : null;
    if (target && target.tagName === 'DETAILS') { target.open = true; }
  }
  window.addEventListener('hashchange', openHash);
  openHash();
  document.body.setAttribute('data-ready', '1');
})();
"""


def esc(value: object) -> str:
    return html.escape(clean_text(value), quote=True)


def _color(position: int, count: int) -> str:
    if count <= 1:
        return LEVEL_COLORS[-2]
    step = (len(LEVEL_COLORS) - 1) * position / (count - 1)
    return LEVEL_COLORS[round(step)]


def _short(label: str, limit: int = 14) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def bar_chart(track: Track, rows: list[TrackResult]) -> str:
    """An SVG bar chart of the level distribution: one bar for ``none`` and one per level."""
    return _chart(track, level_distribution(track, rows))


def _chart(track: Track, data: list[tuple[str, int]]) -> str:
    """``bar_chart`` of a distribution (``common.level_distribution``'s pairs, counted part by part)."""
    width, height, top, bottom, left = 372, 170, 18, 34, 8
    slot = (width - left * 2) / max(1, len(data))
    bar = min(48.0, slot * 0.7)
    peak = max([n for _, n in data] + [1])
    parts = [(f'<svg class="chart" role="img" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
              f'xmlns="http://www.w3.org/2000/svg" aria-label="{esc(track.title)}: level distribution">'),
             f'<line x1="{left}" y1="{height - bottom}" x2="{width - left}" y2="{height - bottom}" stroke="#d1d9e0"/>']
    levels = len(data) - 1
    for i, (label, count) in enumerate(data):
        h = (height - top - bottom) * count / peak
        x = left + slot * i + (slot - bar) / 2
        y = height - bottom - h
        color = NONE_COLOR if label == NO_LEVEL else _color(i - 1, levels)
        cx = x + bar / 2
        parts.append(f'<g class="bar" data-label="{esc(label)}" data-count="{count}">'
                     f'<title>{esc(label)}: {count} entities</title>'
                     f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{max(h, 0.0):.1f}" rx="2" fill="{color}"/>'
                     f'<text x="{cx:.1f}" y="{y - 4:.1f}" text-anchor="middle">{count}</text>'
                     f'<text x="{cx:.1f}" y="{height - bottom + 14}" text-anchor="middle">{esc(_short(label))}</text>'
                     '</g>')
    parts.append("</svg>")
    return "".join(parts)


def _chips(counts: dict[CheckState, int]) -> str:
    return "".join(f'<span class="chip s-{s.value}">{n} {s.value}</span>' for s, n in counts.items() if n)


def render(report: RunReport, *, root: str | None = None, title: str = "Soundcheck report", redactor: Any = None,
           **_: Any) -> str:
    return "".join(render_whole(Writer, report, root=root, title=title, redactor=redactor))


# Where an entity's anchor number goes in a piece's text (see ``Writer.piece``).
_ANCHOR = "\0"


def _numbered(text: str, first: int) -> str:
    """``text`` with its ``_ANCHOR`` marks replaced by ``first``, ``first + 1``, ... in order."""
    pieces = text.split(_ANCHOR)
    out = [""] * (2 * len(pieces) - 1)
    out[::2] = pieces
    out[1::2] = map(str, range(first, first + len(pieces) - 1))
    return "".join(out)


class _TrackCounts:
    """A track's card, counted part by part: its rows, how many reached the top level, the level distribution."""

    def __init__(self, track: Track) -> None:
        self.rows = 0
        self.at_top = 0
        self.top = track.levels[-1].ordinal if track.levels else None
        self.distribution: dict[str, int] = dict(level_distribution(track, ()))


class Writer(ReportWriter):
    """The page of a run given in parts (``reporters.get_writer``). The summary and the track cards (counts) come
    before the two long lists, the entity table and the check details: each part's rows of both go to a temporary
    file, copied at the close. Holds the counts. An entity's rows come from its own part (an entity is in one
    part), in the order of the entities, so the page is the same whatever the split into parts. A part's piece is
    its counts and its rows as text."""

    PIECES = True

    def __init__(self, head: RunReport, write: Any, *, root: str | None = None, title: str = "Soundcheck report",
                 redactor: Any = None, **_: Any) -> None:
        super().__init__(head, write)
        self.head = RunReport(head.generated_at, (), head.checks, head.tracks, (), ())
        self.root = root
        self.title = title
        self.redactor = redactor
        self.results = 0
        self.entities = 0
        self.states = {s: 0 for s in CheckState}
        self.tracks = [_TrackCounts(t) for t in head.tracks]
        self.shown = 0  # entities listed so far: the next one's anchor
        self.spool = Spool()

    def piece(self, part: RunReport) -> tuple[int, int, dict[CheckState, int], list[Any], int, str, tuple[str, ...]]:
        """The part's counts (results, entities, states, each track's card) and the number of entities it lists
        with their table rows and check details as text (the details in blocks of about 1,000 lines, which
        ``take`` numbers and spools one by one, as small as they come). An entity's anchor (``e-N``, numbered
        through the run) is not known here: each row and details block holds a NUL where its number goes, which
        ``take`` fills in (``esc`` turns any NUL of the data into U+FFFD, so the NULs are those)."""
        report = redacted(part, self.redactor)
        index = build_index(report)
        by_entity = results_by_entity(report)
        states = dict.fromkeys(CheckState, 0)
        for r in report.check_results:
            states[r.state] += 1
        tracks = []
        for track, tally in zip(report.tracks, self.tracks):
            rows = track_rows(report, track)
            at_top = sum(1 for tr in rows if tr.highest_level is not None and tr.highest_level.ordinal == tally.top)
            tracks.append((len(rows), at_top, level_distribution(track, rows)))
        reached: dict[tuple[str, str], TrackResult] = {(tr.track_id, tr.entity_ref): tr for tr in report.track_results}
        levels_of: dict[tuple[str, str], list[str]] = defaultdict(list)  # (entity, check) -> "track level N"
        for tr in report.track_results:
            for lv in tr.levels:
                for r in lv.checks:
                    levels_of[(tr.entity_ref, r.check_id)].append(f"{tr.track_id} · {level_label(lv.ordinal, lv.name)}")

        shown = [e for e in report.entities if str(e.ref) in by_entity or any((t.id, str(e.ref)) in reached
                                                                             for t in report.tracks)]
        out: list[str] = []
        for entity in shown:
            ref = str(entity.ref)
            counts = state_counts(by_entity.get(ref, []))
            not_passing = sum(counts[s] for s in NOT_PASSING)
            skipped = sum(counts[s] for s in SKIPPED)
            cells = [f'<td data-sort="{esc(ref.lower())}"><a href="#e-{_ANCHOR}">{esc(ref)}</a></td>',
                     f"<td>{esc(entity.kind)}</td>", f"<td>{esc(owner_of(None, entity))}</td>"]
            for track in report.tracks:
                tr = reached.get((track.id, ref))
                if tr is None:
                    cells.append('<td data-sort="-2" class="num">–</td>')
                else:
                    ordinal = -1 if tr.highest_level is None else tr.highest_level.ordinal
                    css = " lvl-none" if tr.highest_level is None else ""
                    cells.append(f'<td data-sort="{ordinal}" class="num{css}">{esc(reached_label(tr))}</td>')
            cells += [f'<td class="num">{counts[CheckState.PASSED]}</td>', f'<td class="num">{not_passing}</td>',
                      f'<td class="num">{skipped}</td>']
            out.append("<tr>" + "".join(cells) + "</tr>\n")
        table = "".join(out)

        details: list[str] = []  # blocks of about 1,000 lines: ``take`` numbers and spools them one by one
        out = []
        for entity in shown:
            ref = str(entity.ref)
            results = by_entity.get(ref, [])
            counts = state_counts(results)
            brief = ", ".join(f"{n} {s.value}" for s, n in counts.items() if n) or "no check results"
            source = source_of(entity, self.root)
            where = ""
            if source is not None:
                where = f'<p class="src">{esc(source.path)}{":" + str(source.line) if source.line else ""}</p>'
            out.append(f'<details class="entity" id="e-{_ANCHOR}"><summary>{esc(ref)} '
                       f'<span class="src">({esc(brief)})</span></summary>{where}\n')
            if results:
                out.append("<table><thead><tr><th>Check</th><th>State</th><th>Tracks</th><th>Message</th></tr>"
                           "</thead><tbody>\n")
                for r in results:
                    check = index.check(r.check_id)
                    name = f" <span class=\"src\">{esc(check.name)}</span>" if check and check.name else ""
                    message = esc(message_of(r, check))
                    if r.missing_facts:
                        message += "<br><span class=\"src\">missing: " + esc("; ".join(r.missing_facts)) + "</span>"
                    where_in = "<br>".join(esc(x) for x in levels_of.get((ref, r.check_id), []))
                    out.append(f"<tr><td><code>{esc(r.check_id)}</code>{name}</td>"
                               f'<td class="state s-{r.state.value}">{r.state.value}</td>'
                               f"<td>{where_in}</td><td><pre>{message}</pre></td></tr>\n")
                out.append("</tbody></table>\n")
            out.append("</details>\n")
            if len(out) >= 1000:
                details.append("".join(out))
                out = []
        details.append("".join(out))
        return len(report.check_results), len(by_entity), states, tracks, len(shown), table, tuple(details)

    def take(self, piece: tuple[int, int, dict[CheckState, int], list[Any], int, str, tuple[str, ...]]) -> None:
        results, entities, states, tracks, shown, table, details = piece
        self.results += results
        self.entities += entities
        for state, n in states.items():
            self.states[state] += n
        for counts, (rows, at_top, distribution) in zip(self.tracks, tracks):
            counts.rows += rows
            counts.at_top += at_top
            for label, n in distribution:
                counts.distribution[label] = counts.distribution.get(label, 0) + n
        self.spool.add("table", _numbered(table, self.shown))
        first = self.shown
        for block in details:
            self.spool.add("details", _numbered(block, first))
            first += block.count(_ANCHOR)
        self.shown += shown

    def close(self, problems: Any = ()) -> None:
        try:
            self._close(problems)
        finally:
            self.spool.close()

    def _close(self, problems: Any) -> None:
        report = redacted(RunReport(self.head.generated_at, (), self.head.checks, self.head.tracks, (), (),
                                    tuple(problems)), self.redactor)
        title = self.title
        summary = summary_text(self.results, self.entities, self.states)
        out: list[str] = [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{esc(title)}</title><style>{CSS}</style></head><body>",
            f"<header><h1>{esc(title)}</h1>",
            f'<p class="meta">Generated {esc(format_timestamp(report.generated_at))} · {esc(summary)}</p>',
            f'<div class="chips">{_chips(self.states)}</div></header>',
        ]
        if report.tracks:
            out.append('<section id="tracks"><h2>Tracks</h2><div class="cards">')
            for track, counts in zip(report.tracks, self.tracks):
                out.append(f'<figure class="track" id="track-{esc(track.id)}"><figcaption>{esc(track.title)} '
                           f'<code>{esc(track.id)}</code></figcaption>{_chart(track, list(counts.distribution.items()))}'
                           f"<p>{counts.at_top}/{counts.rows} entities reached the top level</p></figure>")
            out.append("</div></section>")

        out.append('<section id="entities"><h2>Entities</h2>'
                   '<input id="filter" type="search" placeholder="Filter entities…" aria-label="Filter entities">'
                   '<table id="entity-table" class="sortable"><thead><tr>'
                   "<th>Entity</th><th>Kind</th><th>Owner</th>")
        for track in report.tracks:
            out.append(f'<th data-type="num">{esc(track.title)}</th>')
        out.append('<th data-type="num">Passed</th><th data-type="num">Not passing</th>'
                   '<th data-type="num">Skipped</th></tr></thead><tbody>')
        self._lines(out)
        self._copy("table")
        out = ["</tbody></table></section>", '<section id="details"><h2>Check details</h2>']
        self._lines(out)
        self._copy("details")
        out = ["</section>"]
        if report.problems:
            out.append('<section id="problems"><h2>Warnings</h2><ul>')
            for p in report.problems:
                loc = f"{esc(p.location)}: " if p.location else ""
                out.append(f"<li>{loc}{esc(p.message)}</li>")
            out.append("</ul></section>")
        self._lines(out)
        self.write(f"<script>{SCRIPT}</script></body></html>\n")

    def _lines(self, out: list[str]) -> None:
        """Elements of the page, each followed by a newline (the page is ``"\\n".join`` of its elements)."""
        self.write("".join(line + "\n" for line in out))

    def _copy(self, key: str) -> None:
        for piece in self.spool.copy(key):
            self.write(piece)
