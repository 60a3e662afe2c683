"""Render a `SiteView` into a static, self-contained folder (works from file://).

Jinja2 templates (package data beside this module) with autoescaping; the CSS and the
filter script are inlined into the pages, so the folder has no external request at all.
The plots are inline SVG drawn from coordinates computed here: a line per metric over
commits with the threshold dashed. No plotting library is used because a polyline and a
few circles are all the charts need, and SVG made here stays a few hundred bytes a chart
(matplotlib's SVG output is tens of kB a figure and it would be a heavy optional extra).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .model import BUCKETS, FalsifierView, Series, SiteView, bucket


class DashboardError(Exception):
    """The site could not be written (bad output folder, missing Jinja2)."""


def _env():
    try:
        import jinja2  # noqa: PLC0415 - the optional [html] extra
    except ImportError:
        raise DashboardError("the HTML dashboard needs Jinja2: pip install 'pytest-falsify[html]'") from None
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("pytest_falsify.dashboard", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.globals.update(bucket=bucket, buckets=BUCKETS)
    return env


@dataclass
class Plot:
    metric: str
    width: int
    height: int
    left: int
    points: list[tuple[float, float, str, float]]  # (x, y, commit, value)
    threshold: float | None
    threshold_y: float | None
    kind: str | None
    lo_label: str
    hi_label: str


def plot(series: Series, width: int = 360, height: int = 120) -> Plot:
    """Pixel coordinates of one series; y grows upward, the threshold included in range."""
    left, right, top, bottom = 8, 8, 22, 16
    values = [v for _, _, v in series.points]
    lo, hi = min(values), max(values)
    if series.threshold is not None:
        lo, hi = min(lo, series.threshold), max(hi, series.threshold)
    if hi == lo:  # a flat line sits in the middle, not on the floor
        pad = abs(hi) * 0.01 or 1.0
        lo, hi = lo - pad, hi + pad
    span = hi - lo
    n = max(i for i, _, _ in series.points) if series.points else 0
    xs = width - left - right

    def y(v: float) -> float:
        return round(top + (height - top - bottom) * (1 - (v - lo) / span), 2)

    pts = [(round(left + (xs * i / n if n else xs / 2), 2), y(v), c, v) for i, c, v in series.points]
    ty = y(series.threshold) if series.threshold is not None else None
    return Plot(series.metric, width, height, left, pts, series.threshold, ty, series.kind,
                f"{min(values):.10g}", f"{max(values):.10g}")


def _plots(f: FalsifierView) -> list[Plot]:
    return [plot(s) for s in f.series if s.points]


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".falsify-tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_site(site: SiteView, out: Path) -> list[Path]:
    """Write index.html, one page per contract (c/) and per falsifier (f/) under `out`."""
    env = _env()
    if out.exists() and not out.is_dir():
        raise DashboardError(f"{out}: exists and is not a directory")
    written = []
    index = out / "index.html"
    _write(index, env.get_template("index.html.j2").render(site=site, root=""))
    written.append(index)
    ctpl, ftpl = env.get_template("contract.html.j2"), env.get_template("falsifier.html.j2")
    for c in site.contracts:
        p = out / c.page
        _write(p, ctpl.render(site=site, c=c, root="../"))
        written.append(p)
        for f in c.falsifiers:
            p = out / f.page
            _write(p, ftpl.render(site=site, f=f, root="../", contract_page=c.page, plots=_plots(f)))
            written.append(p)
    return written
