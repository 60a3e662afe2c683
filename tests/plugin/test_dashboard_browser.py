"""The dashboard in a real browser: headless Chromium loads the site from file://.

Chromium runs the page's scripts before it dumps the DOM, so the checks read what a
visitor's browser shows: every claim present, the filters (driven by the URL hash, the
same code path as the inputs) hiding what they should, one plot point per commit, and a
screenshot that is not blank. Skips with the reason where no Chromium is installed;
.ci/run installs one from the distribution's packages.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from test_dashboard import FALSIFIED, committed_history, rows

from pytest_falsify.cli import main
from pytest_falsify.contracts import load_dir
from pytest_falsify.dashboard import model

pytest.importorskip("jinja2")
BROWSERS = ("chromium-headless-shell", "chromium", "chromium-browser", "google-chrome")
BROWSER = next((b for b in map(shutil.which, BROWSERS) if b), None)
NO_BROWSER = f"no headless browser found ({', '.join(BROWSERS)})"
if BROWSER is None and os.environ.get("FALSIFY_REQUIRE_BROWSER"):
    # .ci/run sets this after installing Chromium: there, a missing browser is a failure.
    raise RuntimeError(f"FALSIFY_REQUIRE_BROWSER is set but {NO_BROWSER}")
pytestmark = pytest.mark.skipif(BROWSER is None, reason=NO_BROWSER)
REPO = Path(__file__).parents[2]


def chromium(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    cmd = [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files",
           "--virtual-time-budget=3000", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def dom(url: str) -> str:
    out = chromium("--dump-dom", url)
    assert out.returncode == 0, out.stderr[-2000:]
    assert 'data-ready="1"' in out.stdout, "the page's script did not run"
    return out.stdout


def visible_qids(html: str) -> list[str]:
    return re.findall(r'<tr class="falsifier" data-qid="([^"]+)"(?![^>]*hidden)[^>]*>', html)


def site(project, tmp_path) -> Path:
    project.contract(FALSIFIED)
    project.contract(FALSIFIED.replace("FALSIFY-DEMO", "FALSIFY-OTHER"), name="other")
    out = tmp_path / "site"
    assert main(["--contracts", str(project.path / "contracts"), "html", str(out), "--no-history"]) == 0
    return out / "index.html"


def test_every_claim_is_shown_after_the_scripts_ran(project, tmp_path):
    index = site(project, tmp_path)
    html = dom(index.as_uri())
    assert len(visible_qids(html)) == 6
    assert 'data-shown="6"' in html


def test_a_status_filter_hides_the_other_claims(project, tmp_path):
    index = site(project, tmp_path)
    html = dom(index.as_uri() + "#status=FALSIFIED")
    assert visible_qids(html) == ["demo::FALSIFY-DEMO-003", "other::FALSIFY-OTHER-003"]


def test_contract_and_text_filters_combine(project, tmp_path):
    index = site(project, tmp_path)
    html = dom(index.as_uri() + "#contract=other&q=live%20claim")
    assert visible_qids(html) == ["other::FALSIFY-OTHER-002"]


def test_the_history_plot_shows_one_point_per_commit(project, tmp_path):
    committed_history(project, 3)
    out = tmp_path / "site"
    main(["--contracts", str(project.path / "contracts"), "html", str(out)])
    qid = "demo::FALSIFY-DEMO-001"
    html = chromium("--dump-dom", (out / f"f/{model.slug(qid)}.html").as_uri()).stdout
    assert len(re.findall(r'<circle class="point"', html)) == 3


def test_the_screenshot_of_the_bundled_contracts_is_not_blank(tmp_path):
    """The bundled contracts' dashboard, history included, is built and rendered."""
    from PIL import Image, ImageStat

    out = tmp_path / "site"
    assert main(["--contracts", str(REPO / "contracts"), "html", str(out), "--max-commits", "40",
                 "--history-timeout", "30"]) == 0
    cset = load_dir(REPO / "contracts")
    assert len(rows(out / "index.html", "falsifier")) == sum(len(c.entries) for c in cset.contracts)
    shot = tmp_path / "shot.png"
    r = chromium(f"--screenshot={shot}", "--window-size=1280,900", (out / "index.html").as_uri())
    assert r.returncode == 0 and shot.is_file(), r.stderr[-2000:]
    img = Image.open(shot).convert("L")
    assert img.size == (1280, 900)
    stat = ImageStat.Stat(img)
    assert stat.stddev[0] > 10, "the screenshot is (nearly) one colour"
    colours = Image.open(shot).convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50


def test_the_aprender_shaped_corpus_renders_every_claim(tmp_path, monkeypatch, capsys):
    """aprender's variety (foreign status words, nested statuses, same stem in two
    folders, per-contract ids, non-contract YAML) renders, every claim in its row."""
    import json

    corpus = REPO / "tests" / "corpus"
    shutil.copy(corpus / "aprender.ini", tmp_path / "pytest.ini")
    shutil.copytree(corpus / "aprender", tmp_path / "contracts")
    monkeypatch.chdir(tmp_path)
    assert main(["list", "--json"]) == 0
    claims = [c["id"] for c in json.loads(capsys.readouterr().out)]
    assert main(["html", "site", "--no-history"]) == 0
    html = dom((tmp_path / "site" / "index.html").as_uri())
    assert visible_qids(html) == claims
    # A project's own word is filed under its lattice status and shown as written.
    assert "as written: VERIFIED — 74.0 TFLOP/s on H100 SXM (bf16, 8192^3)" in html
    html = dom((tmp_path / "site" / "index.html").as_uri() + "#contract=kernels/softmax-v1")
    assert visible_qids(html) and all(q.startswith("kernels/softmax-v1::") for q in visible_qids(html))
