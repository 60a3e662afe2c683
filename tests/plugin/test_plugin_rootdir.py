"""Option values given as separate arguments (`--contracts /abs/dir`) never move pytest's
rootdir: pytest picks the rootdir before plugins' options are known, so it takes such a
value for a test path (pytest issue #8846); the plugin redoes that choice."""

from __future__ import annotations

import yaml
from falsify_project import DEMO, PASSING


def _evidence_tests(text: str) -> list[str]:
    es = yaml.safe_load(text)["falsification_tests"]
    return sorted(t["test"] for e in es for t in (e.get("evidence") or {}).get("tests", []))


def test_report_path_outside_the_project_as_its_own_argument_keeps_the_rootdir(project, tmp_path_factory):
    project.contract()
    project.tests(PASSING)
    report = tmp_path_factory.mktemp("elsewhere") / "r.json"
    first = project.run("--falsify=report", "--falsify-report", str(report))
    assert first.ret == 0, first.stdout.str()
    second = project.run("--falsify=report", "--falsify-report", str(report))  # r.json exists now
    assert second.ret == 0, second.stdout.str() + second.stderr.str()
    second.stdout.fnmatch_lines([f"rootdir: {project.path}*"])


def test_contracts_outside_the_project_as_its_own_argument_keep_ini_and_test_ids(project, tmp_path_factory):
    project.pytester.makeini("[pytest]\naddopts = --strict-markers\nmarkers =\n    mine: a marker\n")
    project.tests(PASSING.replace("def test_live", "@pytest.mark.mine\ndef test_live"))
    outside = tmp_path_factory.mktemp("spec")
    (outside / "demo.yaml").write_text(DEMO)
    result = project.run("--falsify", "--contracts", str(outside))
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    result.stdout.fnmatch_lines([f"rootdir: {project.path}", "configfile: tox.ini*"])
    assert _evidence_tests((outside / "demo.yaml").read_text()) == [
        "test_demo.py::test_algorithm", "test_demo.py::test_guard", "test_demo.py::test_live"]


def test_value_inside_the_project_changes_nothing(project):
    project.contract()
    project.tests(PASSING)
    (project.path / "out").mkdir()
    (project.path / "out" / "r.json").write_text("{}")
    result = project.run("--falsify=report", "--falsify-report", str(project.path / "out" / "r.json"))
    assert result.ret == 0
    result.stdout.fnmatch_lines([f"rootdir: {project.path}"])


def _rootdir_line(result) -> str:
    return next(line for line in result.stdout.lines if line.startswith("rootdir: "))


def test_a_test_path_outside_the_project_moves_the_rootdir_as_with_the_equals_form(project, tmp_path_factory):
    # Only our options' values are taken out: a real test path keeps its meaning.
    project.contract()
    elsewhere = tmp_path_factory.mktemp("tests_elsewhere")
    (elsewhere / "test_x.py").write_text("def test_x():\n    pass\n")
    contracts = str(project.path / "contracts")
    joined = project.run(f"--contracts={contracts}", str(elsewhere))
    separate = project.run("--contracts", contracts, str(elsewhere))
    assert (separate.ret, _rootdir_line(separate)) == (joined.ret, _rootdir_line(joined)) == (
        0, _rootdir_line(joined))
    assert _rootdir_line(joined) != f"rootdir: {project.path}"


def test_a_dashboard_folder_outside_the_project_as_its_own_argument_keeps_the_rootdir(
        project, tmp_path_factory):
    project.contract()
    project.tests(PASSING)
    site = tmp_path_factory.mktemp("elsewhere") / "site"
    site.mkdir()  # an existing folder is what pytest would take for a test path
    result = project.run("--falsify=report", "--falsify-html", str(site))
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    result.stdout.fnmatch_lines([f"rootdir: {project.path}*"])
    assert (site / "index.html").is_file()
