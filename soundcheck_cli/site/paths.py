"""File names inside the site, and links between its pages.

Every page lives at a path relative to the site's root (``entities/component/default/api.html``); a link from one
page to another is the root prefix of the page (``../`` per folder level) plus the target's path, so the whole
site works from ``file://`` and from any static host (no absolute URL anywhere).

Entity, owner, track and check ids become path segments: ASCII letters, digits, ``-``, ``_`` and ``.`` are kept,
anything else is written ``~XX`` (its UTF-8 bytes in hex), and a segment made of dots only is escaped too, so no id
can climb out of its folder or collide with another. Entity paths use the lower-case entity key (refs compare
case-insensitively in Backstage).
"""

from __future__ import annotations

import re

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
MAX_SEGMENT = 120  # bytes of a path segment before it is shortened (most file systems allow 255)


def segment(text: str) -> str:
    """``text`` as one safe path segment."""
    out = _UNSAFE.sub(lambda m: "".join(f"~{b:02X}" for b in m.group(0).encode("utf-8")), text)
    if not out or set(out) == {"."}:
        out = "".join(f"~{b:02X}" for b in text.encode("utf-8")) or "~"
    if len(out) > MAX_SEGMENT:
        import hashlib

        out = out[:MAX_SEGMENT - 17] + "~" + hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]
    return out


def entity_parts(ref: str) -> tuple[str, str, str]:
    """``kind:namespace/name`` (lower-cased) as its three parts."""
    kind, _, rest = ref.lower().partition(":")
    namespace, _, name = rest.partition("/")
    if not name:
        namespace, name = "default", namespace
    return kind, namespace, name


def entity_dir(ref: str) -> str:
    kind, namespace, name = entity_parts(ref)
    return f"{segment(kind)}/{segment(namespace)}/{segment(name)}"


def entity_page(ref: str) -> str:
    return f"entities/{entity_dir(ref)}.html"


def badge_base(ref: str, track_id: str) -> str:
    """``badges/<kind>/<namespace>/<name>/<track>`` (``.svg`` and ``.json`` are added)."""
    return f"badges/{entity_dir(ref)}/{segment(track_id)}"


def _not_index(name: str) -> str:
    """``index.html``, ``index-2.html``... are the list pages of a folder: an id starting with ``index`` is
    written ``~69ndex...``."""
    return "~69" + name[1:] if name.lower().startswith("index") else name


def track_page(track_id: str) -> str:
    return f"tracks/{_not_index(segment(track_id))}.html"


def track_folder(track_id: str) -> str:
    """Where a track's own lists go (``tracks/<track>/level-N.html``): beside its page, never on another's."""
    return f"tracks/{_not_index(segment(track_id))}"


def check_page(check_id: str) -> str:
    return f"checks/{_not_index(segment(check_id))}.html"


def check_folder(check_id: str) -> str:
    return f"checks/{_not_index(segment(check_id))}"


def owner_page(owner: str) -> str:
    return owner_folder(owner) + ".html"


def owner_folder(owner: str) -> str:
    kind, namespace, name = entity_parts(owner)
    return f"owners/{segment(kind)}/{segment(namespace)}/{segment(name)}"


def root_of(path: str) -> str:
    """The prefix that leads from the page at ``path`` back to the site's root (``""`` or ``../``...)."""
    return "../" * path.count("/")
