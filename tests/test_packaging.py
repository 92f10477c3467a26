"""The project's packaging: pyproject.toml and environment.yml describe one environment."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
# conda-forge names that differ from the PyPI ones
CONDA_TO_PYPI = {"pytorch": "torch", "ray-default": "ray"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_names_the_same_packages_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pypi = {_name(r) for r in project["dependencies"]}
    for extra in project["optional-dependencies"].values():
        pypi |= {_name(r) for r in extra}

    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = set()
    for dep in env["dependencies"]:
        if isinstance(dep, str):
            conda.add(CONDA_TO_PYPI.get(_name(dep), _name(dep)))
    conda -= {"python", "pip"}
    assert conda == pypi, f"only in environment.yml: {conda - pypi}; only in pyproject.toml: {pypi - conda}"


def test_import_has_no_side_effects(tmp_path):
    # Importing the package (and its submodules) creates no file and needs no data.
    code = (
        "import os, stingylib, stingylib.paths; "
        "import importlib, pkgutil; "
        "[importlib.import_module('stingylib.' + m.name) for m in pkgutil.iter_modules(stingylib.__path__) "
        " if m.name not in ('__main__',)]; "
        "print(sorted(os.listdir('.')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True,
        env={"STINGY_DATA_ROOT": str(tmp_path / "root"), "PATH": "/usr/bin:/bin"},
    )
    assert out.stdout.strip() == "[]"
    assert not (tmp_path / "root").exists()


def test_public_api_is_importable_from_the_package():
    import stingylib

    for name in ["stingy_sparse", "stingy_smooth", "reversed_logits", "uniform_topn", "normal", "kd_loss",
                 "nasty_loss", "dafl_generator_loss", "dafl_student_loss", "TransformedTeacher", "StingyTeacher"]:
        assert hasattr(stingylib, name), name
    assert set(stingylib.__all__) <= set(dir(stingylib))
