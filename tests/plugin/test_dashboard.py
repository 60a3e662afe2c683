"""The HTML dashboard: view data, pages, git history, badge, SARIF and annotations."""

from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest
from falsify_project import DEMO, PASSING

from pytest_falsify import badge, findings, gate
from pytest_falsify.cli import main
from pytest_falsify.contracts import load_dir
from pytest_falsify.dashboard import model, render, site_view

pytest.importorskip("jinja2")

FALSIFIED = DEMO.replace("    discharge_status: DISCHARGED\n", "    discharge_status: FALSIFIED\n")


class Tags(HTMLParser):
    """Every start tag with its attributes, in document order."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, {k: v or "" for k, v in attrs}))


def tags(path: Path) -> list[tuple[str, dict[str, str]]]:
    p = Tags()
    p.feed(path.read_text(encoding="utf-8"))
    return p.tags


def rows(path: Path, cls: str) -> list[dict[str, str]]:
    return [a for t, a in tags(path) if t == "tr" and cls in a.get("class", "").split()]


def test_every_contract_and_falsifier_has_a_row_and_a_page(project, tmp_path):
    project.contract()
    (project.path / "contracts" / "sub").mkdir()
    project.contract(DEMO.replace("FALSIFY-DEMO", "FALSIFY-OTHER"), name="sub/other")
    out = tmp_path / "site"
    assert main(["--contracts", str(project.path / "contracts"), "html", str(out), "--no-history"]) == 0
    index = out / "index.html"
    assert [r["data-key"] for r in rows(index, "contract")] == ["demo", "sub/other"]
    qids = [r["data-qid"] for r in rows(index, "falsifier")]
    assert qids == [f"demo::FALSIFY-DEMO-00{i}" for i in (1, 2, 3)] + [
        f"sub/other::FALSIFY-OTHER-00{i}" for i in (1, 2, 3)]
    links = {a["href"] for t, a in tags(index) if t == "a"}
    for link in links - {"index.html"}:
        assert (out / link).is_file(), link


def test_the_overview_puts_falsified_claims_first_among_those_needing_attention(project, tmp_path):
    project.contract(FALSIFIED)
    out = tmp_path / "site"
    main(["--contracts", str(project.path / "contracts"), "html", str(out), "--no-history"])
    attention = rows(out / "index.html", "attention")
    assert attention[0]["data-qid"] == "demo::FALSIFY-DEMO-003"
    # The two entries without a status are unbound: listed after the falsified one.
    assert [r["data-qid"] for r in attention[1:]] == ["demo::FALSIFY-DEMO-001", "demo::FALSIFY-DEMO-002"]


def test_a_page_shows_the_evidence_of_each_bound_test(project, tmp_path):
    project.contract()
    project.tests(PASSING)
    project.run("--falsify")
    out = tmp_path / "site"
    main(["--contracts", str(project.path / "contracts"), "html", str(out), "--no-history"])
    cset = load_dir(project.path / "contracts")
    page = out / model.build(cset).falsifiers[0].page
    text = page.read_text()
    assert "test_demo.py::test_algorithm" in text and "cosine=0.999" in text


def test_a_stated_floor_gives_a_measured_margin():
    t = model.TestView("t", "passed", "live", {"cosine": 0.995, "cosine_floor": 0.99, "n": 3})
    (m,) = model.margins([t])
    assert (m.metric, m.kind, m.holds) == ("cosine", "floor", True)
    assert m.margin == pytest.approx(0.005)


def test_a_ceiling_that_is_exceeded_does_not_hold():
    t = model.TestView("t", "failed", "live", {"nmse": 0.02, "nmse_ceiling": 0.01})
    (m,) = model.margins([t])
    assert not m.holds and m.margin == pytest.approx(-0.01)


def test_a_series_carries_its_threshold_and_one_point_per_commit():
    hist = [model.Point(f"c{i}", "2026-12-01", "DISCHARGED", {"cosine": 0.99 + i / 1000, "cosine_floor": 0.99})
            for i in range(4)]
    (s,) = model.series(hist)
    assert s.metric == "cosine" and s.threshold == 0.99 and s.kind == "floor"
    assert [c for _, c, _ in s.points] == ["c0", "c1", "c2", "c3"]
    p = render.plot(s)
    assert len(p.points) == 4 and p.threshold_y is not None
    ys = [y for _, y, _, _ in p.points]
    assert ys == sorted(ys, reverse=True)  # rising values are drawn upwards


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                   env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e", "GIT_COMMITTER_NAME": "t",
                        "GIT_COMMITTER_EMAIL": "t@e", "PATH": "/usr/bin:/bin", "HOME": str(cwd)})


def committed_history(project, n: int) -> None:
    """`n` commits, each storing a new cosine for FALSIFY-DEMO-001."""
    git(project.path, "init", "-q")
    for i in range(n):
        ev = (f"    evidence:\n      tests:\n      - {{test: 't.py::t', outcome: passed, level: algorithm, "
              f"metrics: {{cosine: 0.99{i}, cosine_floor: 0.99}}}}\n")
        project.contract(DEMO.replace("    discharge_level: algorithm\n\n",
                                      "    discharge_level: algorithm\n    discharge_status: DISCHARGED\n" + ev + "\n", 1))
        git(project.path, "add", "-A")
        git(project.path, "commit", "-q", "-m", f"run {i}")


def test_history_has_one_point_per_commit_that_touched_the_contract(project):
    committed_history(project, 3)
    cset = load_dir(project.path / "contracts")
    site, note = site_view(cset, project.path / "contracts")
    f = next(f for f in site.falsifiers if f.id == "FALSIFY-DEMO-001")
    assert note == ""
    assert [p.metrics["cosine"] for p in f.history] == [0.990, 0.991, 0.992]
    assert f.series[0].threshold == 0.99


def test_history_is_bounded_by_a_commit_count(project):
    committed_history(project, 4)
    cset = load_dir(project.path / "contracts")
    site, _ = site_view(cset, project.path / "contracts", max_commits=2)
    f = next(f for f in site.falsifiers if f.id == "FALSIFY-DEMO-001")
    assert [p.metrics["cosine"] for p in f.history] == [0.992, 0.993]


def test_outside_git_there_is_no_history_and_a_note_says_so(project):
    project.contract()
    cset = load_dir(project.path / "contracts")
    site, note = site_view(cset, project.path / "contracts")
    assert "no git history" in note and all(not f.history for f in site.falsifiers)


def test_the_history_plot_has_one_point_per_commit(project, tmp_path):
    committed_history(project, 3)
    out = tmp_path / "site"
    main(["--contracts", str(project.path / "contracts"), "html", str(out)])
    cset = load_dir(project.path / "contracts")
    f = next(e for e in cset.contracts[0].entries if e.id == "FALSIFY-DEMO-001")
    page = out / f"f/{model.slug(f.qid)}.html"
    circles = [a for t, a in tags(page) if t == "circle" and a.get("class") == "point"]
    assert len(circles) == 3 and len({a["data-commit"] for a in circles}) == 3
    assert any(t == "line" and a.get("class") == "threshold" for t, a in tags(page))


def test_html_into_a_file_is_a_clean_error(project, tmp_path, capsys):
    project.contract()
    (tmp_path / "f").write_text("x")
    assert main(["--contracts", str(project.path / "contracts"), "html", str(tmp_path / "f")]) == 2
    assert "not a directory" in capsys.readouterr().err


def test_pytest_falsify_html_writes_the_site_after_the_run(project):
    project.contract()
    project.tests(PASSING)
    result = project.run("--falsify", "--falsify-html", "site")
    result.stdout.fnmatch_lines(["dashboard: * page(s) in site/*"])
    assert (project.path / "site" / "index.html").is_file()
    assert "DISCHARGED" in (project.path / "site" / "index.html").read_text()


@pytest.mark.parametrize("statuses, colour", [
    (["DISCHARGED", "DISCHARGED"], "#4c1"),
    (["DISCHARGED", "PARTIAL_ALGORITHM_LEVEL"], "#dfb317"),
    (["PARTIAL_ALGORITHM_LEVEL", "UNBOUND"], "#9f9f9f"),
    (["UNBOUND", "BLOCKER_FIXTURE_ABSENT"], "#fe7d37"),
    (["DISCHARGED", "BLOCKER_FIXTURE_ABSENT", "FALSIFIED"], "#e05d44"),
])
def test_the_badge_takes_the_colour_of_the_worst_status(statuses, colour):
    assert badge.colour(statuses) == colour


def test_the_badge_is_an_svg_that_counts_discharged_claims(project, tmp_path):
    project.contract()
    out = tmp_path / "b.svg"
    assert main(["--contracts", str(project.path / "contracts"), "badge", str(out)]) == 0
    root = ET.fromstring(out.read_text())
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "claims" in texts and "1/3 discharged" in texts


def test_the_badge_of_an_unknown_contract_is_a_clean_error(project, tmp_path, capsys):
    project.contract()
    assert main(["--contracts", str(project.path / "contracts"), "badge", str(tmp_path / "b.svg"),
                 "--contract", "nope"]) == 2
    assert "no contract 'nope'" in capsys.readouterr().err


def drifted(project) -> None:
    project.contract()
    project.tests(PASSING)
    project.run("--falsify=report", "--falsify-report", "r.json")


def test_check_as_sarif_points_at_the_drifting_entries(project, capsys, monkeypatch):
    drifted(project)
    monkeypatch.chdir(project.path)
    capsys.readouterr()  # the pytest run's own output
    assert main(["check", "r.json", "--format", "sarif"]) == gate.DRIFT
    log = json.loads(capsys.readouterr().out)
    assert log["version"] == "2.1.0"
    results = log["runs"][0]["results"]
    lines = {r["locations"][0]["physicalLocation"]["region"]["startLine"] for r in results}
    assert {r["ruleId"] for r in results} == {"drift"}
    assert {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results} == {
        "contracts/demo.yaml"}
    text = (project.path / "contracts" / "demo.yaml").read_text().splitlines()
    assert all(text[n - 1].lstrip().startswith("- id: FALSIFY-DEMO-00") for n in lines)


def test_a_clean_check_as_sarif_has_no_results(project, capsys, monkeypatch):
    project.contract(DEMO.replace("    discharge_status: DISCHARGED\n", ""))
    monkeypatch.chdir(project.path)
    assert main(["check", "--format", "sarif"]) == 0
    assert json.loads(capsys.readouterr().out)["runs"][0]["results"] == []


def test_check_mode_under_github_actions_prints_error_annotations(project, monkeypatch):
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    project.contract()
    project.tests(PASSING)
    result = project.run("--falsify=check")
    result.stdout.fnmatch_lines(["::error file=contracts/demo.yaml,line=*,title=falsify drift::*"])


def test_outside_github_actions_check_prints_no_annotations(project, monkeypatch):
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    project.contract()
    project.tests(PASSING)
    assert "::error" not in project.run("--falsify=check").stdout.str()


def test_annotation_text_is_escaped_as_github_requires():
    f = findings.Finding("drift", "50% off\nnext", "a,b:c.yaml", 3)
    (line,) = findings.github_annotations([f])
    assert line == "::error file=a%2Cb%3Ac.yaml,line=3,title=falsify drift::50%25 off%0Anext"


def run_hook(cwd: Path) -> subprocess.CompletedProcess:
    """Run the pre-commit hook's entry the way pre-commit would (no file names)."""
    import sys

    import yaml

    (hook,) = yaml.safe_load((Path(__file__).parents[2] / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "falsify-validate" and hook["pass_filenames"] is False
    prog, *args = hook["entry"].split()
    assert prog == "falsify"
    return subprocess.run([sys.executable, "-m", "pytest_falsify", *args], cwd=cwd,
                          capture_output=True, text=True)


def test_the_pre_commit_hook_passes_on_valid_contracts(project):
    project.contract()
    assert run_hook(project.path).returncode == 0


def test_the_pre_commit_hook_fails_on_a_broken_contract_naming_the_line(project):
    project.contract(DEMO.replace("discharge_status: DISCHARGED", "discharge_status: DISCHARGD"))
    out = run_hook(project.path)
    assert out.returncode == 2 and "demo.yaml:" in out.stderr


WITH_RECORD = DEMO.replace(
    "    prediction: fails when broken\n    discharge_level: algorithm\n    discharge_status: DISCHARGED\n",
    "    prediction: fails when broken\n    discharge_level: algorithm\n    discharge_status: DISCHARGED\n"
    "    faults: [off_by_one]\n    evidence:\n      tests:\n"
    "      - {test: 'test_demo.py::test_guard', outcome: passed, level: algorithm, RECORD}\n")


def attention_of(project, tmp_path, record: str) -> tuple[dict[str, str], str]:
    project.contract(WITH_RECORD.replace("RECORD", record))
    out = tmp_path / "site"
    assert main(["--contracts", str(project.path / "contracts"), "html", str(out), "--no-history"]) == 0
    index = out / "index.html"
    why = {}
    for t, a in tags(index):
        if t == "tr" and "attention" in a.get("class", ""):
            why[a["data-qid"]] = ""
    text = index.read_text()
    page = (out / f"f/{model.slug('demo::FALSIFY-DEMO-003')}.html").read_text()
    return why, text + page


def test_evidence_from_uncommitted_code_is_shown_stale(project, tmp_path):
    why, html = attention_of(project, tmp_path, "dirty: true")
    assert "demo::FALSIFY-DEMO-003" in why
    assert 'class="tag stale"' in html and "recorded from uncommitted code" in html


def test_a_falsifier_whose_declared_fault_survived_is_shown_vacuous(project, tmp_path):
    why, html = attention_of(project, tmp_path, "falsifiable: {killed: [], survived: [off_by_one]}")
    assert "demo::FALSIFY-DEMO-003" in why
    assert 'class="tag vacuous"' in html and "survived: off_by_one" in html


def test_a_killed_falsifier_with_fresh_evidence_needs_no_attention(project, tmp_path):
    why, html = attention_of(project, tmp_path, "falsifiable: {killed: [off_by_one], survived: []}")
    assert "demo::FALSIFY-DEMO-003" not in why
    assert "killed by: off_by_one" in html
