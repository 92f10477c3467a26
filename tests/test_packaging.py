"""The project's packaging: pyproject.toml and environment.yml describe one environment; importing
has no side effects; the data root follows its rule; ``pip install .`` works outside a checkout."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
# conda-forge names that differ from the PyPI ones
CONDA_TO_PYPI = {"pytorch": "torch", "ray-default": "ray"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _spec(requirement: str) -> str:
    """The version bounds of a requirement, spaces removed (e.g. ``>=1.0.2,<2``)."""
    rest = requirement.strip()[len(_name(requirement)):]
    return re.sub(r"^\[[^\]]*\]|\s+", "", rest)  # without extras and spaces


def test_environment_yml_names_the_same_packages_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pypi = {_name(r): _spec(r) for r in project["dependencies"]}
    for extra in project["optional-dependencies"].values():
        pypi |= {_name(r): _spec(r) for r in extra}

    text = (ROOT / "environment.yml").read_text()
    env = yaml.safe_load(text)
    conda = {}
    for dep in env["dependencies"]:
        if isinstance(dep, str) and _name(dep) not in ("python", "pip"):
            conda[CONDA_TO_PYPI.get(_name(dep), _name(dep))] = _spec(dep)
    assert set(conda) == set(pypi), (f"only in environment.yml: {set(conda) - set(pypi)}; "
                                     f"only in pyproject.toml: {set(pypi) - set(conda)}")
    assert conda == pypi, {k: (conda[k], pypi[k]) for k in pypi if conda[k] != pypi[k]}  # the same bounds
    # its header names every extra it stands for
    extras = re.search(r'pip install -e "\.\[([\w,]+)\]"', text)[1].split(",")
    assert sorted(extras) == sorted(project["optional-dependencies"])


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


# ---------------------------------------------------------------------------------------------
# The data root (stingylib.paths) and an install outside a checkout
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("parser", ["tomllib", "fallback"])
def test_a_checkout_is_a_folder_with_stingylib_s_pyproject(tmp_path, monkeypatch, parser):
    from stingylib import paths

    if parser == "fallback":  # Python 3.10 has no tomllib: the minimal parser of is_checkout
        monkeypatch.setitem(sys.modules, "tomllib", None)
    cases = {
        "ours": '[build-system]\nrequires = ["setuptools"]\n\n[project]\nversion = "1"\nname = "stingylib"\n',
        "other": '[project]\nname = "stingy-other"\n\n[tool.x]\nname = "stingylib"\n',
        "no-project": '[tool.x]\nname = "stingylib"\n',
        "malformed": '[project\nname = "stingylib"\n',
    }
    for folder, text in cases.items():
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "pyproject.toml").write_text(text)
    (tmp_path / "empty").mkdir()
    found = {folder.name: paths.is_checkout(folder) for folder in tmp_path.iterdir()}
    expected = {"ours": True, "other": False, "no-project": False, "empty": False, "malformed": False}
    assert found == expected
    assert paths.is_checkout(ROOT)


def test_the_data_root_rule(tmp_path, monkeypatch):
    import stingylib
    from stingylib import paths

    # These tests run from the checkout (editable install) unless stingylib was installed normally.
    from_checkout = Path(stingylib.__file__).resolve().parents[1] == ROOT
    assert paths.checkout_root() == (ROOT if from_checkout else None)

    home, checkout = tmp_path / "home", tmp_path / "checkout"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    # 1. $STINGY_DATA_ROOT wins (an empty value counts as unset)
    monkeypatch.setattr(paths, "checkout_root", lambda: checkout)
    monkeypatch.setenv(paths.ENV_VAR, str(tmp_path / "env" / ".." / "root"))
    assert paths.data_root() == (tmp_path / "root").resolve()
    assert paths.results_dir("cpu") == (tmp_path / "root").resolve() / "results" / "cpu"
    monkeypatch.setenv(paths.ENV_VAR, "")
    assert paths.data_root() == checkout / "data"
    # 2. running from a source checkout: its data/
    monkeypatch.delenv(paths.ENV_VAR)
    assert paths.data_root() == checkout / "data"
    assert paths.datasets_dir() == checkout / "data" / "datasets"
    # 3. installed: the per-user folder of platformdirs
    monkeypatch.setattr(paths, "checkout_root", lambda: None)
    assert paths.data_root() == paths.user_data_root()
    if sys.platform.startswith("linux"):
        assert paths.data_root() == home / ".local" / "share" / "stingy-book"
        monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
        assert paths.checkpoints_dir("smoke") == tmp_path / "xdg" / "stingy-book" / "checkpoints" / "smoke"
    assert sorted(tmp_path.iterdir()) == [], "computing a path must create nothing"


def _site_packages(python: Path) -> Path:
    out = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                         capture_output=True, text=True, check=True)
    return Path(out.stdout.strip())


def _stingylib_entries(folders: list[str]) -> dict[str, list[str]]:
    return {f: sorted(p.name for p in Path(f).glob("*stingylib*")) for f in folders if Path(f).is_dir()}


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX venv layout (bin/)")
def test_pip_install_works_outside_a_checkout(tmp_path, record_property):
    """``pip install .`` into a fresh venv, then stingylib used from elsewhere: the paper's numbers
    come from the installed package and the data root is the per-user folder, not the checkout's.

    The venv gets no copy of torch & co.: a ``.pth`` file appends this interpreter's site-packages
    to its ``sys.path`` (plain paths, so the ``.pth`` files there, among them the editable install's
    finder, are not run); the venv's own site-packages, holding the freshly installed stingylib,
    comes first. pip is this interpreter's, too (the venv is made ``--without-pip``); it builds
    offline and without isolation, from a copy of the sources (pip builds in the source tree, which
    must not be the checkout).
    """
    import importlib.util
    import json
    import os
    import shutil
    import site
    import time

    if importlib.util.find_spec("pip") is None or importlib.util.find_spec("setuptools") is None:
        pytest.skip("needs pip and setuptools in the test interpreter")
    ours = [p for p in site.getsitepackages() if Path(p).is_dir()]
    if site.ENABLE_USER_SITE and site.getusersitepackages() in sys.path:
        ours.append(site.getusersitepackages())
    before = _stingylib_entries(ours)

    src = tmp_path / "src"
    shutil.copytree(ROOT / "stingylib", src / "stingylib", ignore=shutil.ignore_patterns("__pycache__", "*.py[co]"))
    for extra in ["pyproject.toml", "README.md", "setup.py", "setup.cfg", "MANIFEST.in", *ROOT.glob("LICENSE*")]:
        if (ROOT / extra).is_file():
            shutil.copy2(ROOT / extra, src / Path(extra).name)

    venv, home, elsewhere = tmp_path / "venv", tmp_path / "home", tmp_path / "elsewhere"
    home.mkdir()
    elsewhere.mkdir()
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    venv_site = _site_packages(python)
    (venv_site / "_stingy_test_deps.pth").write_text("".join(f"{p}\n" for p in ours))

    env = {k: v for k, v in os.environ.items()
           if k not in {"STINGY_DATA_ROOT", "XDG_DATA_HOME", "PYTHONPATH", "PYTHONHOME", "PYTHONUSERBASE",
                        "PYTHONSTARTUP", "VIRTUAL_ENV"} and not k.startswith("PIP_")}
    env.update(HOME=str(home), PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")

    start = time.perf_counter()
    pip = subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
                          str(src)], cwd=elsewhere, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    record_property("pip_install_seconds", round(seconds, 1))
    print(f"pip install: {seconds:.1f} s")
    assert pip.returncode == 0, pip.stdout + pip.stderr
    assert "Successfully installed stingylib" in pip.stdout
    assert "Successfully uninstalled" not in pip.stdout, pip.stdout  # pip left this interpreter's install alone
    assert _stingylib_entries(ours) == before

    check = (
        "import json, sys; from importlib import resources; "
        "import stingylib, stingylib.paper as paper, stingylib.paths as paths; "
        "t1, t2 = paper.paper_table1(), paper.paper_table2(); "
        "print(json.dumps({'file': stingylib.__file__, 'checkout': str(paths.checkout_root()), "
        "'data_root': str(paths.data_root()), 'shapes': [t1.mean.shape, t2.mean.shape], "
        "'cell': t1.mean.loc[('resnet18', 'normal'), 'shufflenetv2'], 'dafl': t2.mean.loc[('cifar10', 'stingy'), 'dafl'], "
        "'readme': resources.files('stingylib.paper').joinpath('README.md').is_file()}))"
    )
    out = subprocess.run([str(python), "-c", check], cwd=elsewhere, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert Path(found["file"]).resolve() == (venv_site / "stingylib" / "__init__.py").resolve()
    assert found["checkout"] == "None"
    assert found["shapes"] == [[10, 5], [6, 2]] and found["cell"] == 74.24 and found["dafl"] == 90.26
    assert found["readme"]
    data_root = Path(found["data_root"])
    if sys.platform.startswith("linux"):
        assert data_root == home / ".local" / "share" / "stingy-book"
    else:
        assert data_root.is_relative_to(home)
    assert not data_root.exists(), "nothing is created before something is written"

    cli = subprocess.run([str(venv / "bin" / "stingylib"), "--help"], cwd=elsewhere, env=env,
                         capture_output=True, text=True)
    assert cli.returncode == 0 and "usage" in cli.stdout.lower(), cli.stdout + cli.stderr
