"""`pip install pytest-falsify` without the core extra: importing aprcore names the extra."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

MESSAGE = ("aprcore needs the 'core' extra (numpy is not installed): "
           "pip install 'pytest-falsify[core]'")


@pytest.fixture
def no_numpy(tmp_path: Path) -> dict[str, str]:
    """An environment in which `import numpy` fails as it does where numpy is absent."""
    shadow = tmp_path / "numpy"
    shadow.mkdir()
    (shadow / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'numpy'\", name='numpy')\n")
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}


def test_import_without_numpy_names_the_core_extra(no_numpy):
    out = subprocess.run([sys.executable, "-c", "import aprcore"], env=no_numpy,
                         capture_output=True, text=True)
    assert out.returncode == 1
    assert out.stderr.strip().splitlines()[-1] == f"ModuleNotFoundError: {MESSAGE}"
    assert "During handling" not in out.stderr  # numpy's own error is not chained in
