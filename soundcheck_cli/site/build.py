"""``generate(site_input, out_dir)``: the whole site, written atomically (``writer``); what was written."""

from __future__ import annotations

from dataclasses import dataclass

from soundcheck_cli.site import assets
from soundcheck_cli.site.model import SiteInput, build_model
from soundcheck_cli.site.pages import Site
from soundcheck_cli.site.writer import SiteWriter


@dataclass(frozen=True)
class SiteSummary:
    path: str
    pages: int
    badges: int
    entities: int
    run_id: str
    partial: bool


def generate(inp: SiteInput, out_dir: str) -> SiteSummary:
    model = build_model(inp)
    with SiteWriter(out_dir) as writer:
        writer.write("assets/site.css", assets.CSS)
        writer.write("assets/site.js", assets.JS)
        site = Site(model, writer.write)
        site.render()
    return SiteSummary(writer.target, site.pages, site.badges, len(model.entities), model.run.id,
                       bool(model.selection))
