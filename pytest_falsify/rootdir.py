"""Keep pytest's rootdir where it belongs when our options get their value as a separate
argument (`--falsify-report /abs/r.json`, `--contracts /abs/dir`).

The cause (pytest issue #8846): pytest chooses the rootdir and the config file
(`determine_setup`) from the command line *before* it loads plugins, so it cannot know
that `/abs/r.json` belongs to `--falsify-report`. Every existing path among the arguments
counts as a test path, so a report or contracts directory outside the project moves the
rootdir to a common ancestor, where no config file is: `falsify_contracts`, `addopts` and
`markers` of the project are lost, and node ids (the test ids stored as evidence) are
taken relative to the wrong directory. `--falsify-report=/abs/r.json` is read right.

The first hook a plugin gets once its options are known is pytest_load_initial_conftests
(before conftests, collection and node ids). There `repair` redoes pytest's choice with
our options parsed, and when it differs puts the config in the state the right choice
gives: rootdir, config file and its options, the config file's `addopts` in place of the
wrong file's, `pythonpath`, and confcutdir. That state is private to pytest; the
attributes used exist in pytest 8 and 9, which the tox matrix runs, and the tests in
tests/plugin/test_plugin_rootdir.py pin the result.
"""

from __future__ import annotations

import copy
import inspect
import os
import shlex
from collections.abc import Collection, Sequence

import pytest
from _pytest.config.findpaths import determine_setup


def separate_values(args: Sequence[str], options: Collection[str]) -> list[int]:
    """Indexes of the arguments that are the value of one of `options`, given as a
    separate argument (`--opt VALUE`, not `--opt=VALUE`)."""
    out = []
    for i, a in enumerate(args[:-1]):
        if a == "--":
            break
        if a in options:
            out.append(i + 1)
    return out


def _misread(config: pytest.Config, options: Collection[str]) -> bool:
    """Whether pytest took one of our values for a test path: it only counts paths that exist."""
    first = shlex.split(os.environ.get("PYTEST_ADDOPTS", "")) + list(config.invocation_params.args)
    base = config.invocation_params.dir
    return any((base / first[i]).exists() for i in separate_values(first, options))


def _setup_now(config: pytest.Config) -> tuple:
    """pytest's determine_setup over the original command line, now that every plugin's
    options are known (so option values are no longer taken for test paths)."""
    first = shlex.split(os.environ.get("PYTEST_ADDOPTS", "")) + list(config.invocation_params.args)
    ns, unknown = config._parser.parse_known_and_unknown_args(first, namespace=copy.copy(config.option))
    kwargs = {"inifile": ns.inifilename, "rootdir_cmd_arg": ns.rootdir or None,
              "invocation_dir": config.invocation_params.dir}
    params = inspect.signature(determine_setup).parameters
    if "override_ini" in params:  # pytest 9: free arguments only
        kwargs.update(override_ini=ns.override_ini, args=ns.file_or_dir)
    else:  # pytest 8 also passed the unknown arguments
        kwargs["args"] = ns.file_or_dir + unknown
    return determine_setup(**kwargs), ns


def repair(config: pytest.Config, args: list[str], options: Collection[str]) -> None:
    """Redo the rootdir choice when one of `options`' values misled it (see above)."""
    if not _misread(config, options):
        return
    (rootpath, inipath, inicfg, *rest), _ns = _setup_now(config)
    if (rootpath, inipath) == (config.rootpath, config.inipath):
        return
    old_addopts = list(config.getini("addopts"))
    if config.getini("pythonpath"):
        config._unconfigure_python_path()
    config._rootpath, config._inipath = rootpath, inipath
    if hasattr(config, "_inicfg"):  # pytest 9
        config._inicfg = inicfg
        if rest:
            config._ignored_config_files = rest[0]
    else:  # pytest 8
        config.inicfg = inicfg
    config._inicache.clear()
    config._parser.extra_info.update(rootdir=str(rootpath), inifile=str(inipath))
    # pytest put the wrong file's addopts in front of the arguments: swap in the right one's.
    if old_addopts and args[:len(old_addopts)] == old_addopts:
        del args[:len(old_addopts)]
    addopts = config._validate_args(list(config.getini("addopts")), "via addopts config")
    args[:0] = addopts
    config.known_args_namespace = config._parser.parse_known_args(args, namespace=copy.copy(config.option))
    if addopts:
        config.pluginmanager.consider_preparse(addopts, exclude_only=False)
    if config.getini("pythonpath"):
        config._configure_python_path()
    if config.known_args_namespace.confcutdir is None:  # pytest derives it from the config file
        config.known_args_namespace.confcutdir = str(inipath.parent if inipath else rootpath)
