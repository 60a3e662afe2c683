"""The public entry points a case calls, as a user would (in the child process).

Each returns the exit status the command would have; exceptions are left to escape, so
the runner prints their traceback exactly as the interpreter would. `warm()` imports
everything in the parent once, so each forked child starts with it loaded.
"""

from __future__ import annotations

import json
import os
import sys


def warm() -> None:
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # no BLAS thread pool to fork
    import pytest  # noqa: F401

    import aprcore  # noqa: F401
    import aprcore.cli as apr_cli
    import pytest_falsify.cli  # noqa: F401
    import pytest_falsify.plugin  # noqa: F401

    apr_cli.build_parser()  # imports every subcommand's module


def forked(fn) -> int:
    """Run `fn` in a child of this (case) process, as a separate command would run; its
    exit status. A child killed by a signal kills this process with the same signal, so
    the harness sees the death. For cases that run a command twice (pytest keeps the
    test modules it imported)."""
    import signal

    from .runner import call_as_main

    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = call_as_main(fn)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code & 0xFF)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        signal.signal(os.WTERMSIG(status), signal.SIG_DFL)
        os.kill(os.getpid(), os.WTERMSIG(status))
    return os.WEXITSTATUS(status)


def falsify(*args: str) -> int:
    from pytest_falsify.cli import main

    return main(list(args))


def pytest_run(*args: str) -> int:
    """`pytest ARGS` with only this project's plugin (autoload off, as the plugin tests do)."""
    import pytest

    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    return int(pytest.main(["-p", "pytest_falsify.plugin", "-p", "no:cacheprovider", "-q", *args]))


def apr(*args: str) -> int:
    """`python -m aprcore ARGS` (aprcore/__main__.py calls aprcore.cli.main)."""
    import aprcore.cli as apr_cli

    return apr_cli.main(list(args))


def load(path: str) -> int:
    """`aprcore.load(path)`: an error a caller can catch as documented (ValueError, which
    FormatError and ConfigError are, or OSError for a missing or unreadable file) is one
    line and exit 2; anything else (a library's own exception, IndexError, ...) escapes as
    a traceback. On success prints the config and a digest of every weight as JSON."""
    import aprcore

    try:
        model = aprcore.load(path)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    json.dump(summary(model), sys.stdout)
    return 0


def summary(model) -> dict:
    """What the oracles compare: the config as HF writes it and a digest of each weight."""
    import hashlib

    import numpy as np

    digest = {name: hashlib.sha1(np.ascontiguousarray(w).tobytes()).hexdigest()
              for name, w in sorted(model.weights.items())}
    return {"config": model.config.to_hf_dict(), "weights": digest}
