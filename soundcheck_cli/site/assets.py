"""The site's one stylesheet and its one script (client-side search), written as ``assets/site.css`` and
``assets/site.js``.

Search: the entity index is split into ``search/index-N.js`` files (each one call of ``soundcheckIndex([...])``
with ``[ref, title, path]`` entries): script files, not JSON fetched at run time, because browsers refuse
``fetch()`` of a ``file://`` URL, and the site must work from a folder. They are loaded on the first focus of the
search field, so a page costs nothing until someone searches. Every page also works without script (the entity
lists are plain links).
"""

from __future__ import annotations

CSS = """\
:root { --fg: #1f2328; --muted: #59636e; --line: #d0d7de; --bg: #ffffff; --link: #0550ae; --panel: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
       color: var(--fg); background: var(--bg); }
a { color: var(--link); }
a:focus-visible, input:focus-visible, summary:focus-visible { outline: 3px solid #0969da; outline-offset: 2px; }
.skip { position: absolute; left: -999px; top: 0; background: #fff; padding: .5em; }
.skip:focus { left: .5em; }
header.top { display: flex; flex-wrap: wrap; gap: 1em; align-items: center; padding: .6em 1.2em;
             background: #24292f; color: #fff; }
header.top a { color: #fff; text-decoration: none; }
header.top a:hover, header.top a:focus-visible { text-decoration: underline; }
header.top .brand { font-weight: 700; font-size: 1.1em; }
header.top nav ul { display: flex; gap: 1em; list-style: none; margin: 0; padding: 0; }
.search { margin-left: auto; position: relative; }
.search label { margin-right: .4em; }
.search input { font: inherit; padding: .25em .5em; border: 1px solid #8c959f; border-radius: 6px; width: 16em; }
#search-results { position: absolute; right: 0; z-index: 10; background: #fff; color: var(--fg); margin: .2em 0 0;
                  padding: 0; list-style: none; min-width: 22em; max-height: 24em; overflow: auto;
                  border: 1px solid var(--line); border-radius: 6px; box-shadow: 0 4px 12px rgba(0,0,0,.15); }
#search-results:empty { display: none; }
#search-results li a { display: block; padding: .35em .7em; color: var(--link); }
#search-results li a small { color: var(--muted); }
main { max-width: 72em; margin: 0 auto; padding: 1em 1.2em 3em; }
h1 { font-size: 1.6em; margin: .4em 0 .2em; }
h2 { font-size: 1.25em; margin: 1.6em 0 .5em; border-bottom: 1px solid var(--line); padding-bottom: .2em; }
h3 { font-size: 1.05em; margin: 1.2em 0 .4em; }
.muted { color: var(--muted); }
.cards { display: flex; flex-wrap: wrap; gap: .8em; margin: 1em 0; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: .6em 1em; background: var(--panel); min-width: 9em; }
.card .n { font-size: 1.5em; font-weight: 700; display: block; }
table { border-collapse: collapse; width: 100%; margin: .5em 0 1em; }
th, td { text-align: left; padding: .35em .6em; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: var(--panel); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.state { display: inline-block; padding: 0 .5em; border-radius: 1em; font-size: .85em; font-weight: 600;
         white-space: nowrap; border: 1px solid currentColor; }
.s-passed { background: #dafbe1; color: #116329; }
.s-failed { background: #ffebe9; color: #a40e26; }
.s-error { background: #ffebe9; color: #82071e; }
.s-warning { background: #fff8c5; color: #6c4400; }
.s-not-reported { background: #fbefff; color: #6e40c9; }
.s-not-applicable { background: #eaeef2; color: #424a53; }
.s-exempt { background: #ddf4ff; color: #0550ae; }
.legend { display: flex; flex-wrap: wrap; gap: .8em; list-style: none; padding: 0; margin: .3em 0; font-size: .9em; }
.legend .sw { display: inline-block; width: .9em; height: .9em; border-radius: 2px; margin-right: .3em;
              vertical-align: -.1em; border: 1px solid #57606a; }
svg.chart, svg.bar { max-width: 100%; height: auto; display: block; }
.pager { display: flex; gap: .6em; flex-wrap: wrap; margin: 1em 0; }
code, pre { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: .9em; }
pre { background: var(--panel); padding: .6em; overflow: auto; border-radius: 6px; }
details { margin: .5em 0; }
footer { color: var(--muted); font-size: .85em; border-top: 1px solid var(--line); padding: 1em 1.2em;
         max-width: 72em; margin: 0 auto; }
.note { border-left: 4px solid #d4a72c; background: #fff8c5; padding: .4em .8em; }
"""

JS = """\
// Client-side search over the entity index (search/index-N.js), loaded on first use. No library, no network.
(function () {
  "use strict";
  var root = document.body.getAttribute("data-root") || "";
  var chunks = parseInt(document.body.getAttribute("data-index-chunks") || "0", 10);
  var input = document.getElementById("search");
  var list = document.getElementById("search-results");
  if (!input || !list) { return; }
  var entries = [];
  var requested = false;
  var loaded = 0;
  window.soundcheckIndex = function (items) { entries = entries.concat(items); };
  function load() {
    if (requested) { return; }
    requested = true;
    for (var i = 0; i < chunks; i++) {
      var s = document.createElement("script");
      s.src = root + "search/index-" + i + ".js";
      s.onload = function () { loaded++; if (loaded === chunks) { show(); } };
      document.head.appendChild(s);
    }
  }
  function show() {
    var q = input.value.trim().toLowerCase();
    list.textContent = "";
    if (!q) { return; }
    var found = 0;
    for (var i = 0; i < entries.length && found < 20; i++) {
      var e = entries[i];
      if (e[0].toLowerCase().indexOf(q) === -1 && e[1].toLowerCase().indexOf(q) === -1) { continue; }
      found++;
      var li = document.createElement("li");
      var a = document.createElement("a");
      a.href = root + e[2];
      a.textContent = e[0];
      if (e[1]) { var small = document.createElement("small"); small.textContent = " " + e[1]; a.appendChild(small); }
      li.appendChild(a);
      list.appendChild(li);
    }
    if (!found) {
      var none = document.createElement("li");
      none.textContent = loaded === chunks ? "No entity matches." : "Loading...";
      list.appendChild(none);
    }
  }
  input.addEventListener("focus", load);
  input.addEventListener("input", function () { load(); show(); });
  input.addEventListener("keydown", function (ev) {
    if (ev.key === "Escape") { input.value = ""; show(); }
    if (ev.key === "Enter") { ev.preventDefault(); var a = list.querySelector("a"); if (a) { a.click(); } }
  });
})();
"""
