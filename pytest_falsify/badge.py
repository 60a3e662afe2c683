"""A shields-style SVG badge: "claims 53/56 discharged", coloured by the worst status.

Pure: counts in, SVG text out. Text widths come from a small table of Verdana 11px
advance widths (what shields.io measures with), so the badge is sized like theirs
without a font library.
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape

#: Worst first; the badge takes the colour of the worst status present.
SEVERITY = (
    ("FALSIFIED", "#e05d44"),
    ("BLOCKER_FIXTURE_ABSENT", "#fe7d37"),
    ("UNBOUND", "#9f9f9f"),
    ("PARTIAL_ALGORITHM_LEVEL", "#dfb317"),
    ("DISCHARGED", "#4c1"),
)
_OTHER = "#007ec6"  # a project's own status word outside the lattice
_NARROW = set("fijlrt ./:!|'()[]-,;")
_WIDE = set("mwMW%@")


def text_width(text: str) -> float:
    """Approximate width in px of `text` in Verdana 11px."""
    w = 0.0
    for ch in text:
        if ch in _NARROW:
            w += 4.0
        elif ch in _WIDE:
            w += 10.5
        elif ch.isupper() or ch.isdigit():
            w += 7.5
        else:
            w += 6.6
    return w


def colour(statuses: Iterable[str]) -> str:
    present = set(statuses)
    if not present:
        return SEVERITY[2][1]
    for status, col in SEVERITY:
        if status in present:
            return col
    return _OTHER


def message(statuses: list[str]) -> str:
    done = sum(1 for s in statuses if s == "DISCHARGED")
    return f"{done}/{len(statuses)} discharged"


def svg(statuses: list[str], label: str = "claims") -> str:
    """The badge for these statuses (one per claim)."""
    msg = message(statuses)
    lw, mw = text_width(label) + 10, text_width(msg) + 10
    w = lw + mw
    col = colour(statuses)
    lx, mx = lw / 2, lw + mw / 2
    lab, text = escape(label), escape(msg)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w:.0f}" height="20" role="img" '
        f'aria-label="{lab}: {text}"><title>{lab}: {text}</title>'
        '<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/>'
        '<stop offset="1" stop-opacity=".1"/></linearGradient>'
        f'<clipPath id="r"><rect width="{w:.0f}" height="20" rx="3" fill="#fff"/></clipPath>'
        f'<g clip-path="url(#r)"><rect width="{lw:.0f}" height="20" fill="#555"/>'
        f'<rect x="{lw:.0f}" width="{mw:.0f}" height="20" fill="{col}"/>'
        f'<rect width="{w:.0f}" height="20" fill="url(#s)"/></g>'
        '<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="11">'
        f'<text x="{lx:.1f}" y="15" fill="#010101" fill-opacity=".3">{lab}</text><text x="{lx:.1f}" y="14">{lab}</text>'
        f'<text x="{mx:.1f}" y="15" fill="#010101" fill-opacity=".3">{text}</text><text x="{mx:.1f}" y="14">{text}</text>'
        "</g></svg>\n")
