"""The repository's metadata for users: CITATION.cff (Citation File Format 1.2.0), the BibTeX the
book shows from it, and the GitHub workflow that runs CI as .ci/run does and publishes the book."""

from __future__ import annotations

import importlib.util
import re
from datetime import date
from pathlib import Path

import pytest
import yaml

import stingylib

ROOT = Path(__file__).resolve().parents[1]

# CFF 1.2.0: the keys a file and a reference must have, and the reference types this file may use
# (a subset of the schema's enumeration, https://github.com/citation-file-format/citation-file-format).
CFF_REQUIRED = {"cff-version", "message", "title", "authors"}
REFERENCE_REQUIRED = {"type", "title", "authors"}
REFERENCE_TYPES = {"article", "conference-paper", "proceedings", "report", "software", "unpublished", "generic"}
CFF_KEYS = {"abstract", "authors", "cff-version", "commit", "contact", "date-released", "doi", "identifiers",
            "keywords", "license", "license-url", "message", "preferred-citation", "references", "repository",
            "repository-artifact", "repository-code", "title", "type", "url", "version"}


def _cff() -> dict:
    return yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))


def _check_authors(authors: object, where: str) -> None:
    assert isinstance(authors, list) and authors, f"{where}: authors must be a non-empty list"
    for person in authors:
        # a person has family-names (and usually given-names); an entity has a name
        assert isinstance(person, dict) and ("family-names" in person or "name" in person), f"{where}: {person}"
        assert all(isinstance(v, str) and v.strip() for v in person.values()), f"{where}: {person}"


def test_citation_cff_has_the_required_keys_and_valid_values():
    cff = _cff()
    assert CFF_REQUIRED <= set(cff), f"missing {CFF_REQUIRED - set(cff)}"
    assert set(cff) <= CFF_KEYS, f"not CFF 1.2.0 keys: {set(cff) - CFF_KEYS}"
    assert cff["cff-version"] == "1.2.0"
    assert cff.get("type", "software") in {"software", "dataset"}
    assert isinstance(cff["message"], str) and isinstance(cff["title"], str)
    _check_authors(cff["authors"], "CITATION.cff")
    assert cff["version"] == stingylib.__version__  # cited version = the package's
    if "date-released" in cff:
        date.fromisoformat(str(cff["date-released"]))


def test_the_preferred_citation_is_the_paper():
    paper = _cff()["preferred-citation"]
    assert REFERENCE_REQUIRED <= set(paper) and paper["type"] in REFERENCE_TYPES
    _check_authors(paper["authors"], "preferred-citation")
    assert isinstance(paper["year"], int) and 2021 <= paper["year"] <= 2023
    assert "Sparse Logits Suffice to Fail Knowledge Distillation" in paper["title"]
    # the same authors, in the same order, as the book's title page
    names = [f"{a['given-names']} {a['family-names']}" for a in paper["authors"]]
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert names == [n.strip() for n in config["author"].split(",")]


def test_the_book_shows_both_entries_as_bibtex(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("stingy_book_build", ROOT / "book" / "build.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    monkeypatch.setattr(build, "GENERATED", tmp_path / "generated")
    text = build.write_citation().read_text()
    entries = re.findall(r"^@(\w+)\{(\w+),$", text, re.M)
    assert entries == [("inproceedings", "ma2022sparse"), ("software", "stingybook")]
    assert "author = {Ma, Haoyu and Huang, Yifan and Chen, Tianlong and Tang, Hao and You, Chenyu and " \
           "Wang, Zhangyang and Xie, Xiaohui}" in text
    assert "PAIR$^{2}$Struct" in text and "^2Struct" not in text.replace("$^{2}$", "")  # LaTeX-safe
    assert f"version = {{{stingylib.__version__}}}" in text
    assert text.count("{") == text.count("}")
    assert "_generated/citation.bib" in (ROOT / "book" / "intro.md").read_text()


# --- the GitHub workflow --------------------------------------------------------------------------------------


def _workflow() -> dict:
    return yaml.safe_load((ROOT / ".github" / "workflows" / "book.yml").read_text())


def test_the_workflow_runs_ci_as_ci_run_does_then_publishes_the_book():
    flow = _workflow()
    triggers = flow.get("on", flow.get(True))  # YAML 1.1 reads the key `on` as true
    assert "push" in triggers and "workflow_dispatch" in triggers
    build, publish = flow["jobs"]["test-and-build"], flow["jobs"]["publish"]
    runs = [step["run"] for step in build["steps"] if "run" in step]
    # the same steps as CI, nothing installed beside them, then the book of the committed cpu results
    assert len(runs) == 2 and runs[0].endswith("bash .ci/run") and runs[1].endswith("make book PROFILE=cpu")
    uses = [step["uses"].split("@")[0] for step in build["steps"] if "uses" in step]
    assert uses == ["actions/checkout", "actions/setup-python", "actions/upload-pages-artifact"]
    upload = next(s for s in build["steps"] if s.get("uses", "").startswith("actions/upload-pages-artifact"))
    assert upload["with"]["path"] == "_build/html"
    assert publish["needs"] == "test-and-build" and publish["permissions"] == {"pages": "write", "id-token": "write"}
    assert [s["uses"].split("@")[0] for s in publish["steps"]] == ["actions/deploy-pages"]
    assert "pull_request" in publish["if"]  # pull requests are tested, never published
    assert build["timeout-minutes"] <= 90  # CI's budget


def test_ci_runs_the_readme_test_command_which_installs_what_the_tests_need():
    ci = (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert re.search(r"^make test\b", readme, re.M) and re.search(r"^make test$", ci, re.M)
    makefile = (ROOT / "Makefile").read_text()
    extras = re.search(r"^EXTRAS\s*\?=\s*(\S+)", makefile, re.M)[1].split(",")
    assert {"book", "test", "lab"} <= set(extras)  # make lab and its test need the lab extra


@pytest.mark.parametrize("target", ["lab", "kernel"])
def test_the_make_targets_are_listed_by_make_help(target):
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(rf"^{target}: .*## ", makefile, re.M)
