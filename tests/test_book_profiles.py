"""book/build.py never mixes profiles: each executed notebook carries the profile it was run with.

Fast: nothing here runs papermill, jupyter-book or npm. Each test points book/build.py at a scratch
repository (``ROOT``, ``GENERATED`` and ``NOTEBOOKS`` monkeypatched) whose ``book/_generated/``
holds small hand-made notebooks, with or without the metadata papermill writes
(``metadata.papermill.parameters.profile``), and replaces ``run_notebooks``, ``ensure_mathjax``
and ``build_book`` with recorders.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

BUILD_PY = Path(__file__).resolve().parent.parent / "book" / "build.py"
NOTEBOOKS = ["notebooks/alpha.ipynb", "notebooks/beta.ipynb"]


def load_build_module():
    """book/build.py as a fresh module (its globals are monkeypatched per test)."""
    spec = importlib.util.spec_from_file_location("stingy_book_build_profiles", BUILD_PY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_notebook(path: Path, profile: str | None, *, papermill: bool = True) -> Path:
    """A minimal nbformat-4 notebook; with ``papermill``, the metadata papermill 2.7 writes."""
    metadata: dict = {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                     "language": "python"}}
    if papermill:
        params = {} if profile is None else {"profile": profile}
        metadata["papermill"] = {"parameters": params, "default_parameters": {},
                                 "version": "2.7.0", "exception": None}
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": metadata,
          "cells": [{"cell_type": "code", "id": "c0", "metadata": {}, "execution_count": 1,
                     "outputs": [], "source": f"profile = {profile!r}"}]}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb))
    return path


class Recorder:
    """Stands in for run_notebooks / ensure_mathjax / build_book and records its calls."""

    def __init__(self, result=None, effect=None):
        self.calls: list[tuple] = []
        self.result = result
        self.effect = effect

    def __call__(self, *args, **kwargs):
        self.calls.append(args)
        if self.effect is not None:
            self.effect(*args, **kwargs)
        return self.result


@pytest.fixture
def build(tmp_path, monkeypatch):
    """book/build.py pointed at a scratch repository with two notebooks and nothing heavy."""
    module = load_build_module()
    (tmp_path / "_toc.yml").write_text(
        "format: jb-book\nroot: book/intro\nchapters:\n"
        + "".join(f"- file: book/_generated/{Path(nb).stem}\n" for nb in NOTEBOOKS))
    monkeypatch.setattr(module, "ROOT", tmp_path)
    monkeypatch.setattr(module, "GENERATED", tmp_path / "book" / "_generated")
    monkeypatch.setattr(module, "NOTEBOOKS", list(NOTEBOOKS))

    def fake_run(profile, notebooks=None):  # what papermill would leave behind
        for nb in module.NOTEBOOKS if notebooks is None else notebooks:
            write_notebook(module.generated_path(nb), profile)

    monkeypatch.setattr(module, "run_notebooks", Recorder(effect=fake_run))
    monkeypatch.setattr(module, "ensure_mathjax", Recorder())
    monkeypatch.setattr(module, "build_book", Recorder(result=0))
    module.test_builddir = tmp_path / "_build"
    return module


def executed(build, **profiles: str | None) -> None:
    """Write book/_generated/<name>.ipynb carrying each given profile."""
    for name, profile in profiles.items():
        write_notebook(build.GENERATED / f"{name}.ipynb", profile)


def run_main(build, *args: str) -> int:
    return build.main([*args, "--builddir", str(build.test_builddir)])


# ---------------------------------------------------------------------------------------------
# executed_profile / check_profiles
# ---------------------------------------------------------------------------------------------


def test_executed_profile_reads_papermill_metadata(tmp_path):
    build = load_build_module()
    assert build.executed_profile(write_notebook(tmp_path / "a.ipynb", "cpu")) == "cpu"
    assert build.executed_profile(write_notebook(tmp_path / "b.ipynb", None)) is None
    assert build.executed_profile(write_notebook(tmp_path / "c.ipynb", "x", papermill=False)) is None
    (tmp_path / "d.ipynb").write_text("not json")
    with pytest.raises(ValueError, match="not a readable notebook"):
        build.executed_profile(tmp_path / "d.ipynb")


def test_consistent_profiles_accepted(build):
    executed(build, alpha="cpu", beta="cpu")
    profiles = build.executed_profiles()
    assert profiles == {"notebooks/alpha.ipynb": "cpu", "notebooks/beta.ipynb": "cpu"}
    assert build.check_profiles(profiles) == "cpu"
    assert build.check_profiles(profiles, "cpu") == "cpu"


def test_mixed_profiles_refused(build):
    executed(build, alpha="cpu", beta="smoke")
    with pytest.raises(build.ProfileError, match="mix profiles") as info:
        build.check_profiles(build.executed_profiles())
    assert "alpha.ipynb (cpu)" in str(info.value)
    assert "beta.ipynb (smoke)" in str(info.value)


def test_no_recorded_profile_refused(build):
    executed(build, alpha="cpu")
    write_notebook(build.GENERATED / "beta.ipynb", "cpu", papermill=False)
    with pytest.raises(build.ProfileError, match="no profile is recorded in beta.ipynb"):
        build.check_profiles(build.executed_profiles(), "cpu")


# ---------------------------------------------------------------------------------------------
# main: --skip-notebooks
# ---------------------------------------------------------------------------------------------


def test_skip_notebooks_without_profile_accepts_one_profile(build, capsys):
    executed(build, alpha="paper", beta="paper")
    assert run_main(build, "--skip-notebooks") == 0
    assert build.run_notebooks.calls == []
    assert len(build.build_book.calls) == 1
    assert "building the book from notebooks executed with profile paper" in capsys.readouterr().out


def test_skip_notebooks_with_matching_profile(build):
    executed(build, alpha="cpu", beta="cpu")
    assert run_main(build, "--skip-notebooks", "--profile", "cpu") == 0
    assert len(build.build_book.calls) == 1


def test_skip_notebooks_mixed_profiles_refused(build, capsys):
    executed(build, alpha="smoke", beta="cpu")
    assert run_main(build, "--skip-notebooks") == 1
    assert build.build_book.calls == []
    out = capsys.readouterr().out
    assert "FAILED: ProfileError" in out
    assert "alpha.ipynb (smoke)" in out and "beta.ipynb (cpu)" in out


def test_skip_notebooks_profile_mismatch_refused(build, capsys):
    executed(build, alpha="smoke", beta="smoke")
    assert run_main(build, "--skip-notebooks", "--profile", "cpu") == 1
    assert build.build_book.calls == []
    out = capsys.readouterr().out
    assert "profile cpu was asked for" in out
    assert "alpha.ipynb (smoke), beta.ipynb (smoke)" in out
    assert "--skip-notebooks without --profile" in out  # the way to build the smoke book


def test_skip_notebooks_without_recorded_profile_refused(build, capsys):
    executed(build, alpha="cpu")
    write_notebook(build.GENERATED / "beta.ipynb", None)  # papermill ran it, but without profile
    assert run_main(build, "--skip-notebooks") == 1
    assert build.build_book.calls == []
    assert "beta.ipynb (no recorded profile)" in capsys.readouterr().out


# ---------------------------------------------------------------------------------------------
# main: --only-missing and full runs
# ---------------------------------------------------------------------------------------------


def test_only_missing_other_profile_refused_before_executing(build, capsys):
    executed(build, alpha="cpu")  # beta is missing
    assert run_main(build, "--only-missing", "--profile", "smoke") == 1
    assert build.run_notebooks.calls == []
    assert build.ensure_mathjax.calls == []
    assert build.build_book.calls == []
    out = capsys.readouterr().out
    assert "profile smoke was asked for" in out and "alpha.ipynb (cpu)" in out
    assert "without --only-missing" in out and "make clean" in out
    assert not build.generated_path("notebooks/beta.ipynb").exists()


def test_only_missing_without_profile_means_smoke(build, capsys):
    executed(build, alpha="cpu")
    assert run_main(build, "--only-missing") == 1
    assert build.run_notebooks.calls == []
    assert "--only-missing --profile cpu" in capsys.readouterr().out  # complete the cpu book


def test_only_missing_same_profile_executes_only_missing(build, capsys):
    executed(build, alpha="cpu")
    assert run_main(build, "--only-missing", "--profile", "cpu") == 0
    assert build.run_notebooks.calls == [("cpu", ["notebooks/beta.ipynb"])]
    assert len(build.build_book.calls) == 1
    assert "executed with profile cpu" in capsys.readouterr().out


def test_full_run_default_profile_is_smoke(build):
    executed(build, alpha="cpu", beta="paper")  # stale: every notebook is executed again
    assert run_main(build) == 0
    assert build.run_notebooks.calls == [("smoke", NOTEBOOKS)]
    assert build.executed_profiles() == dict.fromkeys(NOTEBOOKS, "smoke")
    assert len(build.build_book.calls) == 1
