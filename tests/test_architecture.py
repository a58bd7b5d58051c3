"""The dependency rule of DESIGN.md, as import-linter contracts in pyproject.toml."""

import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def test_layers_depend_only_inward():
    # In a process of its own: import-linter reconfigures logging and would silence the
    # loggers of the tests that run after it.
    lint_imports = Path(sys.executable).parent / "lint-imports"
    done = subprocess.run([str(lint_imports)], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout
