"""The dependency rule of DESIGN.md, as import-linter contracts in pyproject.toml."""

import os

from importlinter.cli import lint_imports

from tests.conftest import ROOT


def test_layers_depend_only_inward():
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        assert lint_imports(config_filename=str(ROOT / "pyproject.toml")) == 0
    finally:
        os.chdir(cwd)
