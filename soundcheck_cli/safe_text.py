"""Text made safe to print on a terminal: ``terminal_safe(text)``.

Catalog data, config and facts (an API's error body quoted in a message) end up in what ``soundcheck`` prints.
A terminal obeys the control sequences in that text: ESC starts CSI/OSC/DCS sequences (clear the screen, set
the window title, OSC 8 hyperlinks that hide their target, on some terminals even write to the clipboard), C1
controls (U+0080-U+009F) are 8-bit forms of the same, CR and backspace overwrite what was printed, and the
Unicode bidi embedding/override/isolate controls reorder the text shown ("Trojan Source", CVE-2021-42574).

``terminal_safe`` replaces every such character by a visible escape (``\\x1b``, ``\\x9b``, ``\\r``,
``\\u202e``): what the data holds stays readable, and nothing in it acts on the terminal. Newline and tab are
kept (they lay text out, nothing more); CR LF becomes LF. Everything printed for people -- the ``table``
report, warnings and error messages -- goes through it.
"""

from __future__ import annotations

import re

# C0 controls but tab and newline (ESC, BEL, BS, CR... included), DEL, the C1 controls, and the bidi controls
# (LRE, RLE, PDF, LRO, RLO; LRI, RLI, FSI, PDI) that can reorder what a reader sees.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code == 0x0D:
        return "\\r"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal_safe(text: object) -> str:
    """``text`` (``str()`` of it) with every control character but newline and tab shown as an escape."""
    value = "" if text is None else str(text)
    if _UNSAFE.search(value) is None:  # the usual case: nothing to replace, no copy
        return value
    return _UNSAFE.sub(_visible, value.replace("\r\n", "\n"))
