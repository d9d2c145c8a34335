"""The HTML pages of the site, written as plain strings (no template engine: 10,000 entity pages must take
seconds, and every value is escaped by ``html.escape`` at the one place it is inserted).

Pages (paths relative to the site's root; ``paths`` makes the names):

- ``index.html``: the overview: figures, tracks with their level distribution and pass rate, the pass-rate trend,
  what changed since the previous run, the checks failing most;
- ``tracks/index.html``, ``tracks/<track>.html``: levels and their checks, entities by level, the level trend;
- ``checks/index.html``, ``checks/<check>.html``: states, trend, which tracks need it, who fails it;
- ``owners/index.html``, ``owners/<kind>/<namespace>/<name>.html``: an owner's entities and what to fix first;
- ``entities/index.html`` and ``entities/<kind>/<namespace>/<name>.html``: every check with state and message,
  levels and badges, the history of changes over the kept runs;
- long lists are split into pages of ``PAGE_SIZE`` rows (``<page>-2.html``, ...), so no page grows past a few
  hundred KB whatever the catalog's size.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from html import escape as e
from typing import Any

from soundcheck_cli.history.codec import ABSENT, CHAR_STATES
from soundcheck_cli.site import badges, charts, paths
from soundcheck_cli.site.model import (
    FAILING_CHARS,
    STATE_ORDER,
    UNOWNED,
    Change,
    SiteModel,
    TrackInfo,
    level_counts,
)

PAGE_SIZE = 500  # rows of one list page
INLINE_ROWS = 50  # rows of a list shown on its parent page before "all N ..."
INDEX_CHUNK = 4000  # entities per search index file
HISTORY_ROWS = 500  # changes listed on an entity page (newest first)


def fmt_time(ts: Any) -> str:
    return ts.strftime("%Y-%m-%d %H:%M UTC")


def pct(rate: float | None) -> str:
    return "n/a" if rate is None else f"{rate * 100:.1f}%"


def chip(state: str) -> str:
    return f'<span class="state s-{state}">{state}</span>'


def owner_name(owner: str) -> str:
    if owner == UNOWNED:
        return UNOWNED
    kind, _, rest = owner.partition(":")
    namespace, _, name = rest.partition("/")
    return name if kind == "group" and namespace == "default" else owner


class Site:
    """Renders every page of a ``SiteModel`` through ``write(path, text)``."""

    def __init__(self, model: SiteModel, write: Callable[[str, str], None]) -> None:
        self.m = model
        self.write = write
        self.pages = 0
        self.badges = 0
        self.chunks = (len(model.entities) + INDEX_CHUNK - 1) // INDEX_CHUNK
        self.track_by_id = {t.id: t for t in model.tracks}
        self.columns = {c.id: c.column for c in model.checks}
        # Paths and escaped titles computed once: an entity page links every check and its owner.
        self.check_anchor = {c.id: (paths.check_page(c.id), e(c.title)) for c in model.checks}
        self.owner_paths = {o: ("owners/unowned.html" if o == UNOWNED else paths.owner_page(o), e(owner_name(o)))
                            for o in model.owners}
        self.failing = [0] * len(model.entities)
        for check in model.checks:
            for i, char in enumerate(check.column):
                if char in FAILING_CHARS:
                    self.failing[i] += 1
        self.entity_links: list[str] = [paths.entity_page(x.ref) for x in model.entities]
        self.changes_by_slot: dict[int, list[Change]] = {}
        for change in model.changes:
            if change.slot >= 0:
                self.changes_by_slot.setdefault(change.slot, []).append(change)

    # -- helpers -------------------------------------------------------------------------------------------------

    def page(self, path: str, title: str, body: str) -> None:
        root = paths.root_of(path)
        m = self.m
        nav = "".join(f'<li><a href="{root}{href}">{label}</a></li>' for href, label in (
            ("index.html", "Overview"), ("tracks/index.html", "Tracks"), ("checks/index.html", "Checks"),
            ("owners/index.html", "Owners"), ("entities/index.html", "Entities")))
        text = (
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<title>{e(title)} - {e(m.title)}</title>'
            f'<link rel="stylesheet" href="{root}assets/site.css"></head>'
            f'<body data-root="{root}" data-index-chunks="{self.chunks}">'
            '<a class="skip" href="#main">Skip to content</a>'
            f'<header class="top"><a class="brand" href="{root}index.html">{e(m.title)}</a>'
            f'<nav aria-label="Site"><ul>{nav}</ul></nav>'
            '<form class="search" role="search" onsubmit="return false">'
            '<label for="search">Search entities</label>'
            '<input id="search" type="search" autocomplete="off" placeholder="name or ref" '
            'aria-describedby="search-help" aria-controls="search-results">'
            '<span id="search-help" hidden>Type part of an entity name; results appear below.</span>'
            '<ul id="search-results" aria-live="polite"></ul></form></header>'
            f'<main id="main">{body}</main>'
            f'<footer>Run {e(m.run.id)} recorded {fmt_time(m.run.timestamp)}; site generated '
            f'{fmt_time(m.generated_at)} by soundcheck.</footer>'
            f'<script src="{root}assets/site.js"></script></body></html>\n')
        self.write(path, text)
        self.pages += 1

    def entity_link(self, root: str, slot: int) -> str:
        x = self.m.entities[slot]
        return f'<a href="{root}{self.entity_links[slot]}">{e(x.ref)}</a>'

    def owner_link(self, root: str, owner: str) -> str:
        path, name = self.owner_paths.get(owner) or (self.owner_path(owner), e(owner_name(owner)))
        return f'<a href="{root}{path}">{name}</a>'

    @staticmethod
    def owner_path(owner: str) -> str:
        return "owners/unowned.html" if owner == UNOWNED else paths.owner_page(owner)

    def check_link(self, root: str, check_id: str) -> str:
        known = self.check_anchor.get(check_id)
        if known is None:  # a level's check with no result in this run: it has no page
            return e(check_id)
        return f'<a href="{root}{known[0]}">{known[1]}</a>'

    def track_link(self, root: str, track: TrackInfo) -> str:
        return f'<a href="{root}{paths.track_page(track.id)}">{e(track.title)}</a>'

    def table(self, headers: Sequence[str], rows: Iterable[str], caption: str = "") -> str:
        head = "".join(f'<th scope="col"{" class=num" if h.startswith("#") else ""}>{e(h.lstrip("#"))}</th>'
                       for h in headers)
        cap = f"<caption class=muted>{e(caption)}</caption>" if caption else ""
        return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"

    def listing(self, base: str, title: str, intro: str, headers: Sequence[str],
                row: Callable[[str, Any], str], items: Sequence[Any]) -> str:
        """Write ``items`` as pages ``<base>.html``, ``<base>-2.html``...; the first page's path."""
        pages = max(1, (len(items) + PAGE_SIZE - 1) // PAGE_SIZE)
        names = [f"{base}.html"] + [f"{base}-{k}.html" for k in range(2, pages + 1)]
        for k, path in enumerate(names):
            root = paths.root_of(path)
            part = items[k * PAGE_SIZE:(k + 1) * PAGE_SIZE]
            pager = ""
            if pages > 1:
                here = paths.root_of(path)
                links = [f'<a href="{here}{n}"{" aria-current=page" if j == k else ""}>{j + 1}</a>'
                         for j, n in enumerate(names)]
                pager = f'<nav class="pager" aria-label="Pages">Page: {" ".join(links)}</nav>'
            heading = title if pages == 1 else f"{title} (page {k + 1} of {pages})"
            body = (f"<h1>{e(heading)}</h1>{intro}{pager}"
                    f"{self.table(headers, (row(root, item) for item in part))}{pager}")
            self.page(path, heading, body)
        return names[0]

    def level_segments(self, track: TrackInfo, counts: dict[int, int]) -> list[tuple[str, int, str]]:
        n = len(track.levels)
        segs = [("none", counts.get(0, 0), charts.level_fill(0, n))]
        for k, level in enumerate(track.levels, 1):
            segs.append((level.title, counts.get(level.ordinal, 0), charts.level_fill(k, n)))
        return segs

    def distribution(self, track: TrackInfo, counts: dict[int, int], label: str) -> str:
        segs = self.level_segments(track, counts)
        legend = "".join(f'<li><span class="sw" style="background:{fill}"></span>{e(name)}: {count}</li>'
                         for name, count, fill in segs)
        return charts.stacked_bar(segs, label) + f'<ul class="legend">{legend}</ul>'

    def track_rate(self, track: TrackInfo, slots: Iterable[int] | None = None) -> float | None:
        wanted = {c for level in track.levels for c in level.checks}
        chosen = list(track.highest) if slots is None else [s for s in slots if s in track.highest]
        good = applicable = 0
        for check in self.m.checks:
            if check.id not in wanted:
                continue
            column = check.column
            for s in chosen:
                char = column[s] if s < len(column) else ABSENT
                if char in ".n":
                    continue
                applicable += 1
                if char in "px":
                    good += 1
        return good / applicable if applicable else None

    # -- the site ------------------------------------------------------------------------------------------------

    def render(self) -> None:
        self.overview()
        self.tracks()
        self.checks()
        self.owners()
        self.entities()
        self.changes_pages()
        self.search_index()

    def overview(self) -> None:
        m = self.m
        counts = m.run.counts
        total = sum(counts.values())
        failing = sum(counts.get(s, 0) for s in ("failed", "not-reported", "error"))
        cards = "".join(f'<div class="card"><span class="n">{v}</span>{e(k)}</div>' for k, v in (
            ("entities", len(m.entities)), ("checks", len(m.checks)), ("tracks", len(m.tracks)),
            ("results", total), ("failing results", failing), ("pass rate", pct(m.run.pass_rate))))
        note = ""
        if m.selection:
            limited = "; ".join(f"{k}: {', '.join(v)}" for k, v in m.selection.items())
            note = (f'<p class="note">The latest run was limited ({e(limited)}): this site shows only what it '
                    "evaluated.</p>")
        track_rows = self.track_rows("")
        states = "".join(f"<tr><td>{chip(s)}</td><td class=num>{counts.get(s, 0)}</td></tr>"
                         for s in STATE_ORDER if counts.get(s))
        trend = charts.rate_line([(fmt_time(r.timestamp), r.pass_rate) for r in m.runs],
                                 f"Pass rate over the last {len(m.runs)} runs")
        trend_rows = "".join(f"<tr><td>{fmt_time(r.timestamp)}{' (partial)' if r.partial else ''}</td>"
                             f"<td class=num>{pct(r.pass_rate)}</td></tr>" for r in reversed(m.runs))
        worst = sorted(m.checks, key=lambda c: -sum(c.column.count(ch) for ch in FAILING_CHARS))[:10]
        worst_rows = "".join(
            f"<tr><td>{self.check_link('', c.id)}</td>"
            f"<td class=num>{sum(c.column.count(ch) for ch in FAILING_CHARS)}</td></tr>"
            for c in worst if any(ch in FAILING_CHARS for ch in c.column))
        body = (f"<h1>{e(m.title)}</h1>"
                f'<p class="muted">Latest run: {fmt_time(m.run.timestamp)} ({e(m.run.id)}), '
                f"{len(m.runs)} run{'s' if len(m.runs) != 1 else ''} kept.</p>{note}"
                f'<div class="cards">{cards}</div>'
                "<h2>Tracks</h2>" + (self.table(["Track", "#Entities", "Levels reached", "#Pass rate"], track_rows)
                                     if m.tracks else "<p>No track was evaluated.</p>")
                + "<h2>Results by state</h2>" + self.table(["State", "#Results"], [states])
                + f"<h2>Trend</h2>{trend}<details><summary>Pass rate of each run</summary>"
                + self.table(["Run", "#Pass rate"], [trend_rows]) + "</details>"
                + "<h2>Changes since the previous run</h2>" + self.changes_summary()
                + "<h2>Checks failing most</h2>"
                + (self.table(["Check", "#Failing entities"], [worst_rows]) if worst_rows
                   else "<p>No check fails.</p>"))
        self.page("index.html", "Overview", body)

    def track_rows(self, root: str) -> list[str]:
        rows = []
        for t in self.m.tracks:
            dist = self.distribution(t, self.m.run.distribution.get(t.id, {}), f"Levels reached in {t.title}")
            rows.append(f"<tr><td>{self.track_link(root, t)}</td><td class=num>{len(t.highest)}</td>"
                        f"<td>{dist}</td><td class=num>{pct(self.track_rate(t))}</td></tr>")
        return rows

    def changes_summary(self) -> str:
        changes = self.m.latest_changes()
        if len(self.m.runs) < 2:
            return "<p>Only one run is recorded: nothing to compare yet.</p>"
        if not changes:
            return f"<p>No changes since {fmt_time(self.m.runs[-2].timestamp)}.</p>"
        out = [f'<p>Since {fmt_time(self.m.runs[-2].timestamp)}: '
               f'<a href="changes/index.html">all {len(changes)} changes</a>.</p>']
        for group, title in (("new-failure", "New failures"), ("fixed", "Fixed"), ("level-up", "Level ups"),
                             ("level-down", "Level downs"), ("changed", "Other changes")):
            chosen = [c for c in changes if c.group == group]
            if not chosen:
                continue
            out.append(f"<h3>{title} ({len(chosen)})</h3>")
            out.append(self.table(["Entity", "Check or track", "From", "To"],
                                  (self.change_row("", c) for c in chosen[:INLINE_ROWS])))
        return "".join(out)

    def change_row(self, root: str, c: Change, with_entity: bool = True, with_time: bool = False) -> str:
        if c.kind == "check":
            what = self.check_link(root, c.subject)
            before = chip(c.previous) if c.previous else "(new)"
            after = chip(c.current)
        else:
            track = self.track_by_id.get(c.subject)
            what = (self.track_link(root, track) if track else e(c.subject)) + " (level)"
            before, after = e(c.previous or "(new)"), e(c.current)
        cells = []
        if with_time:
            cells.append(f"<td>{fmt_time(self.m.runs[c.run_index].timestamp)}</td>")
        if with_entity:
            cells.append(f"<td>{self.entity_link(root, c.slot) if c.slot >= 0 else e(c.ref)}</td>")
        cells.append(f"<td>{what}</td><td>{before}</td><td>{after}</td>")
        return "<tr>" + "".join(cells) + "</tr>"

    def changes_pages(self) -> None:
        changes = self.m.latest_changes()
        intro = "<p>Every change the latest run saw against the run before it.</p>"
        self.listing("changes/index", "Changes since the previous run", intro, ["Entity", "Check or track", "From", "To"],
                     lambda root, c: self.change_row(root, c), changes)

    def tracks(self) -> None:
        m = self.m
        body = "<h1>Tracks</h1>" + (self.table(["Track", "#Entities", "Levels reached", "#Pass rate"],
                                               self.track_rows("../")) if m.tracks else "<p>No track evaluated.</p>")
        self.page("tracks/index.html", "Tracks", body)
        for t in m.tracks:
            self.track(t)

    def track(self, t: TrackInfo) -> None:
        path = paths.track_page(t.id)
        root = paths.root_of(path)
        counts = self.m.run.distribution.get(t.id, {})
        at_least = []
        for level in t.levels:
            n = sum(v for o, v in counts.items() if o >= level.ordinal)
            checks = ", ".join(self.check_link(root, c) for c in level.checks) or "(none)"
            at_least.append(f"<tr><td class=num>{level.ordinal}</td><td>{e(level.title)}</td><td>{checks}</td>"
                            f"<td class=num>{n}</td></tr>")
        names = ["none"] + [lv.title for lv in t.levels]
        fills = [charts.level_fill(k, len(t.levels)) for k in range(len(t.levels) + 1)]
        columns = [(fmt_time(r.timestamp), [r.distribution.get(t.id, {}).get(o, 0) for o in [0] + [lv.ordinal for lv in t.levels]])
                   for r in self.m.runs]
        trend = charts.stacked_columns(columns, names, fills, f"Share of entities at each level of {t.title} per run")
        groups = []
        by_level: dict[int, list[int]] = {}
        for slot, h in t.highest.items():
            by_level.setdefault(h, []).append(slot)
        for ordinal in [lv.ordinal for lv in reversed(t.levels)] + [0]:
            slots = sorted(by_level.get(ordinal, []), key=lambda s: self.m.entities[s].key)
            title = t.level_title(ordinal) if ordinal else "No level"
            base = f"{paths.track_folder(t.id)}/level-{ordinal}"
            first = self.listing(base, f"{t.title}: {title}", f'<p><a href="{paths.root_of(base + ".html")}'
                                 f'{path}">Back to {e(t.title)}</a></p>', ["Entity", "Owner", "#Failing checks"],
                                 self.entity_row, slots)
            items = "".join(f"<li>{self.entity_link(root, s)}</li>" for s in slots[:INLINE_ROWS])
            more = f'<p><a href="{root}{first}">All {len(slots)} entities at this level</a></p>' if len(slots) > INLINE_ROWS else ""
            groups.append(f"<h3>{e(title)} ({len(slots)})</h3>" + (f"<ul>{items}</ul>{more}" if slots else "<p>None.</p>"))
        body = (f"<h1>{e(t.title)}</h1><p class=muted>Track <code>{e(t.id)}</code></p>"
                + (f"<p>{e(t.description)}</p>" if t.description else "")
                + "<h2>Levels</h2>" + self.table(["#Ordinal", "Level", "Checks", "#Entities at or above"], at_least)
                + f"<p>Pass rate of its checks: {pct(self.track_rate(t))}</p>"
                + "<h2>Levels reached</h2>" + self.distribution(t, counts, f"Levels reached in {t.title}")
                + f"<h2>Trend</h2>{trend}<ul class=legend>"
                + "".join(f'<li><span class="sw" style="background:{f}"></span>{e(n)}</li>' for n, f in zip(names, fills))
                + "</ul><details><summary>Entities at each level per run</summary>"
                + self.table(["Run"] + ["#" + n for n in names],
                             ("<tr><td>" + e(run) + "</td>" + "".join(f"<td class=num>{v}</td>" for v in values)
                              + "</tr>" for run, values in reversed(columns)))
                + "</details><h2>Entities by level</h2>" + "".join(groups))
        self.page(path, t.title, body)

    def entity_row(self, root: str, slot: int) -> str:
        x = self.m.entities[slot]
        return (f"<tr><td>{self.entity_link(root, slot)}</td><td>{self.owner_link(root, x.owner)}</td>"
                f"<td class=num>{self.failing[slot]}</td></tr>")

    def checks(self) -> None:
        m = self.m

        def row(root: str, c: Any) -> str:
            n = {CHAR_STATES[ch]: c.column.count(ch) for ch in CHAR_STATES}
            applicable = sum(v for k, v in n.items() if k != "not-applicable")
            rate = (n["passed"] + n["exempt"]) / applicable if applicable else None
            failing = n["failed"] + n["not-reported"] + n["error"]
            return (f"<tr><td>{self.check_link(root, c.id)}</td><td class=num>{n['passed']}</td>"
                    f"<td class=num>{failing}</td><td class=num>{n['warning']}</td>"
                    f"<td class=num>{n['not-applicable']}</td><td class=num>{pct(rate)}</td></tr>")

        self.listing("checks/index", "Checks", "", ["Check", "#Passed", "#Failing", "#Warning", "#Not applicable",
                                                    "#Pass rate"], row, list(m.checks))
        for c in m.checks:
            self.check(c)

    def check(self, c: Any) -> None:
        path = paths.check_page(c.id)
        root = paths.root_of(path)
        m = self.m
        n = {CHAR_STATES[ch]: c.column.count(ch) for ch in CHAR_STATES}
        states = "".join(f"<tr><td>{chip(s)}</td><td class=num>{n.get(s, 0)}</td></tr>" for s in STATE_ORDER if n.get(s))
        used = [f"<li>{self.track_link(root, t)}: {e(lv.title)}</li>" for t in m.tracks for lv in t.levels
                if c.id in lv.checks]
        points = [(fmt_time(r.timestamp), m.check_trends.get(c.id, {}).get(r.id)) for r in m.runs]
        trend = (charts.rate_line(points, f"Pass rate of {c.title} over the last {len(m.runs)} runs")
                 + "<details><summary>Pass rate of each run</summary>"
                 + self.table(["Run", "#Pass rate"], (f"<tr><td>{e(run)}</td><td class=num>{pct(rate)}</td></tr>"
                                                      for run, rate in reversed(points))) + "</details>")
        failing = [i for i, ch in enumerate(c.column) if ch in FAILING_CHARS or ch == "w"]
        failing.sort(key=lambda s: (m.entities[s].owner, m.entities[s].key))
        by_owner: dict[str, int] = {}
        for s in failing:
            by_owner[m.entities[s].owner] = by_owner.get(m.entities[s].owner, 0) + 1
        owner_rows = "".join(f"<tr><td>{self.owner_link(root, o)}</td><td class=num>{k}</td></tr>"
                             for o, k in sorted(by_owner.items(), key=lambda kv: (-kv[1], kv[0]))[:20])

        def row(r: str, s: int) -> str:
            x = m.entities[s]
            return (f"<tr><td>{self.entity_link(r, s)}</td><td>{self.owner_link(r, x.owner)}</td>"
                    f"<td>{chip(c.state_of(s) or 'not-applicable')}</td><td>{e(c.messages.get(s, ''))}</td></tr>")

        base = f"{paths.check_folder(c.id)}/failing"
        first = self.listing(base, f"Who fails {c.title}", f'<p><a href="{paths.root_of(base)}{path}">'
                             f"Back to {e(c.title)}</a></p>",
                             ["Entity", "Owner", "State", "Message"], row, failing)
        inline = self.table(["Entity", "Owner", "State", "Message"], (row(root, s) for s in failing[:INLINE_ROWS]))
        more = f'<p><a href="{root}{first}">All {len(failing)} failing entities</a></p>' if len(failing) > INLINE_ROWS else ""
        body = (f"<h1>{e(c.title)}</h1><p class=muted>Check <code>{e(c.id)}</code></p>"
                + (f"<p>{e(c.description)}</p>" if c.description else "")
                + "<h2>Results</h2>" + self.table(["State", "#Entities"], [states])
                + ("<h2>Required by</h2><ul>" + "".join(used) + "</ul>" if used else "")
                + f"<h2>Trend</h2>{trend}"
                + f"<h2>Who fails it ({len(failing)})</h2>"
                + ((self.table(["Owner", "#Failing entities"], [owner_rows]) + inline + more) if failing
                   else "<p>Nobody: every entity passes or is exempt.</p>"))
        self.page(path, c.title, body)

    def blockers(self, slots: Sequence[int]) -> list[tuple[TrackInfo, int, str, list[int]]]:
        """What to fix first: for each entity, the failing checks of the lowest level it has not reached in each
        track; grouped by (track, level, check), lowest level first, then most entities."""
        found: dict[tuple[str, int, str], list[int]] = {}
        columns = self.columns
        for t in self.m.tracks:
            for s in slots:
                h = t.highest.get(s)
                if h is None:
                    continue
                nxt = next((lv for lv in t.levels if lv.ordinal > h), None)
                if nxt is None:
                    continue
                for cid in nxt.checks:
                    column = columns.get(cid, "")
                    if s < len(column) and column[s] in FAILING_CHARS:
                        found.setdefault((t.id, nxt.ordinal, cid), []).append(s)
        ranked = sorted(found.items(), key=lambda kv: (kv[0][1], -len(kv[1]), kv[0][0], kv[0][2]))
        return [(self.track_by_id[tid], o, cid, ss) for (tid, o, cid), ss in ranked]

    def owners(self) -> None:
        m = self.m

        def row(root: str, owner: str) -> str:
            slots = m.owners[owner]
            return (f"<tr><td>{self.owner_link(root, owner)}</td><td class=num>{len(slots)}</td>"
                    f"<td class=num>{sum(self.failing[s] for s in slots)}</td></tr>")

        self.listing("owners/index", "Owners", "<p>Owners are read from the catalog as loaded now "
                     "(<code>spec.owner</code>).</p>", ["Owner", "#Entities", "#Failing results"], row,
                     sorted(m.owners, key=lambda o: (o == UNOWNED, o)))
        for owner, slots in m.owners.items():
            self.owner(owner, slots)

    def owner(self, owner: str, slots: list[int]) -> None:
        m = self.m
        path = self.owner_path(owner)
        root = paths.root_of(path)
        slots = sorted(slots, key=lambda s: m.entities[s].key)
        fix = self.blockers(slots)
        fix_rows = []
        for t, ordinal, cid, ss in fix[:20]:
            examples = ", ".join(self.entity_link(root, s) for s in ss[:5]) + (f" and {len(ss) - 5} more" if len(ss) > 5 else "")
            fix_rows.append(f"<tr><td>{self.check_link(root, cid)}</td><td>{self.track_link(root, t)}: "
                            f"{e(t.level_title(ordinal))}</td><td class=num>{len(ss)}</td><td>{examples}</td></tr>")
        dists = "".join(f"<h3>{self.track_link(root, t)}</h3>" + self.distribution(
            t, level_counts(t.highest.get(s) for s in slots), f"Levels of {owner_name(owner)} in {t.title}")
            for t in m.tracks if any(s in t.highest for s in slots))
        headers = ["Entity"] + [t.title for t in m.tracks] + ["#Failing checks"]

        def row(r: str, s: int) -> str:
            levels = "".join(f"<td>{e(t.level_title(t.highest[s])) if s in t.highest else '-'}</td>" for t in m.tracks)
            return f"<tr><td>{self.entity_link(r, s)}</td>{levels}<td class=num>{self.failing[s]}</td></tr>"

        base = path[:-5] + "/entities"  # beside the owner's page: owners/<kind>/<ns>/<name>/entities.html
        first = self.listing(base, f"Entities of {owner_name(owner)}", f'<p><a href="{paths.root_of(base)}{path}">'
                             f"Back to {e(owner_name(owner))}</a></p>", headers, row, slots)
        inline = self.table(headers, (row(root, s) for s in slots[:INLINE_ROWS]))
        more = f'<p><a href="{root}{first}">All {len(slots)} entities</a></p>' if len(slots) > INLINE_ROWS else ""
        body = (f"<h1>{e(owner_name(owner))}</h1><p class=muted>{len(slots)} entities"
                + (f", owner <code>{e(owner)}</code>" if owner != UNOWNED else "") + "</p>"
                + "<h2>What to fix first</h2>"
                + ("<p>The failing checks that stand between these entities and their next level, lowest level "
                   "first, then by how many entities each blocks.</p>"
                   + self.table(["Check", "Blocks", "#Entities", "Examples"], fix_rows) if fix_rows
                   else "<p>Nothing blocks a level: every entity is at the top of its tracks.</p>")
                + "<h2>Levels</h2>" + (dists or "<p>No track applies to these entities.</p>")
                + "<h2>Entities</h2>" + inline + more)
        self.page(path, owner_name(owner), body)

    def entities(self) -> None:
        m = self.m
        order = sorted(range(len(m.entities)), key=lambda s: m.entities[s].key)
        headers = ["Entity", "Owner"] + [t.title for t in m.tracks] + ["#Failing checks"]

        def row(r: str, s: int) -> str:
            x = m.entities[s]
            levels = "".join(f"<td>{e(t.level_title(t.highest[s])) if s in t.highest else '-'}</td>" for t in m.tracks)
            return (f"<tr><td>{self.entity_link(r, s)}</td><td>{self.owner_link(r, x.owner)}</td>{levels}"
                    f"<td class=num>{self.failing[s]}</td></tr>")

        self.listing("entities/index", "Entities", "", headers, row, order)
        for s in range(len(m.entities)):
            self.entity(s)
            self.entity_badges(s)

    def entity(self, slot: int) -> None:
        m = self.m
        x = m.entities[slot]
        path = self.entity_links[slot]
        root = paths.root_of(path)
        track_rows = []
        badge_md = []
        for t in m.tracks:
            h = t.highest.get(slot)
            if h is None:
                continue
            badge = paths.badge_base(x.ref, t.id)
            nxt = next((lv for lv in t.levels if lv.ordinal > h), None)
            blocking = ""
            if nxt is not None:
                names = [self.check_link(root, cid) for cid in nxt.checks
                         if slot < len(col := self.columns.get(cid, "")) and col[slot] in FAILING_CHARS]
                blocking = f"{e(nxt.title)}: " + (", ".join(names) if names else "(nothing failing)")
            track_rows.append(f"<tr><td>{self.track_link(root, t)}</td><td>{e(t.level_title(h))}</td>"
                              f'<td><img src="{root}{badge}.svg" alt="{e(t.title)}: {e(t.level_title(h))}"></td>'
                              f"<td>{blocking or 'top level reached'}</td></tr>")
            badge_md.append(f"![{t.title}](SITE_URL/{badge}.svg)")
        check_rows = []
        for c in m.checks:
            state = c.state_of(slot)
            if state is None:
                continue
            check_rows.append(f"<tr><td>{self.check_link(root, c.id)}</td><td>{chip(state)}</td>"
                              f"<td>{e(c.messages.get(slot, ''))}</td></tr>")
        history = list(reversed(self.changes_by_slot.get(slot, [])))
        history_html = (self.table(["Run", "Check or track", "From", "To"],
                                   (self.change_row(root, ch, with_entity=False, with_time=True)
                                    for ch in history[:HISTORY_ROWS]))
                        if history else f"<p>No change over the {len(m.runs)} kept runs.</p>")
        facts = [f"<dt>Ref</dt><dd><code>{e(x.ref)}</code></dd>",
                 f"<dt>Owner</dt><dd>{self.owner_link(root, x.owner)}</dd>"]
        if x.title:
            facts.append(f"<dt>Title</dt><dd>{e(x.title)}</dd>")
        if not x.in_catalog:
            facts.append("<dt>Catalog</dt><dd>not in the catalog as loaded now</dd>")
        body = (f"<h1>{e(x.name)}</h1><dl>{''.join(facts)}</dl>"
                + (f"<p>{e(x.description)}</p>" if x.description else "")
                + "<h2>Tracks</h2>" + (self.table(["Track", "Level reached", "Badge", "Next level blocked by"],
                                                  track_rows) if track_rows else "<p>No track applies.</p>")
                + "<h2>Checks</h2>" + (self.table(["Check", "State", "Message"], check_rows) if check_rows
                                       else "<p>No check result.</p>")
                + "<h2>History</h2>" + history_html
                + ("<h2>Badges</h2><p>Markdown for a README (replace SITE_URL with where this site is published; "
                   "each badge also has a shields.io endpoint file: the same path ending in <code>.json</code>):</p>"
                   f"<pre>{e(chr(10).join(badge_md))}</pre>" if badge_md else ""))
        self.page(path, x.ref, body)

    def entity_badges(self, slot: int) -> None:
        x = self.m.entities[slot]
        for t in self.m.tracks:
            h = t.highest.get(slot)
            if h is None:
                continue
            message = t.level_title(h) if h else "none"
            colour = badges.colour_for(h, t.top, [lv.ordinal for lv in t.levels])
            base = paths.badge_base(x.ref, t.id)
            self.write(base + ".svg", badges.svg(t.title, message, colour))
            self.write(base + ".json", badges.endpoint(t.title, message, colour))
            self.badges += 1

    def search_index(self) -> None:
        m = self.m
        entries = [[x.ref, x.title, self.entity_links[x.slot]] for x in m.entities]
        entries.sort(key=lambda item: item[0].lower())
        for k in range(self.chunks):
            part = entries[k * INDEX_CHUNK:(k + 1) * INDEX_CHUNK]
            self.write(f"search/index-{k}.js",
                       "soundcheckIndex(" + json.dumps(part, ensure_ascii=True, separators=(",", ":")) + ");\n")
