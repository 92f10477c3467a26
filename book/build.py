"""Build the Stingy Teacher book: the one entry point the Makefile calls.

    python book/build.py [--profile smoke|cpu|paper] [--skip-notebooks | --only-missing]
                         [--builddir _build]

Steps:

1. Make sure MathJax 3 is available locally: ``npm install`` it into ``.cache/mathjax/`` when
   missing and copy its ``es5/`` directory to ``book/_extra/mathjax/``. ``_config.yml`` ships that
   directory with Sphinx ``html_extra_path``, so the built site renders math with no network.
   Write ``book/_generated/citation.bib`` from ``CITATION.cff`` (the intro page shows it).
2. Execute every notebook in :data:`NOTEBOOKS` (the pages of no experiment and every registered
   experiment's notebook, :data:`stingylib.experiments.EXPERIMENTS`) with papermill (parameter
   ``profile``), cwd = the repository root, kernel ``python3`` of this interpreter, into
   ``book/_generated/<name>.ipynb``.
   Each notebook is written to a temporary file and renamed, so a failed run never leaves a
   half-written notebook for the book to pick up. ``--skip-notebooks`` executes none,
   ``--only-missing`` only those without an executed copy yet. Every NOTEBOOKS entry must be
   listed in ``_toc.yml`` as ``book/_generated/<stem>`` (checked before anything runs).
3. Check that the book never mixes profiles: every executed notebook carries the profile papermill
   ran it with (``metadata.papermill.parameters.profile``), and they must all carry the same one,
   the requested one. Without ``--profile`` the notebooks are executed with ``smoke``; with
   ``--skip-notebooks`` and no ``--profile`` any single profile is accepted, while
   ``--skip-notebooks --profile P`` demands ``P``. ``--only-missing --profile P`` refuses, before
   executing anything, executed notebooks of another profile (rerun without ``--only-missing``, or
   ``make clean``). A notebook with no recorded profile (executed by something else) is refused.
   The profile the book is built from is logged.
4. ``jupyter-book build`` the repository root with warnings as errors (``-W --keep-going``) and
   nitpicky references (``-n``), re-reading every page (``--all``) so that warnings are never
   hidden by an incremental build. The HTML lands in ``<builddir>/html``.

Returns non-zero when any step fails. Paths inside the repository are found from this file;
``--builddir`` is taken relative to the current directory.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"
GENERATED = BOOK / "_generated"

#: The pages that are notebooks of no experiment: the numerical check of the method (before the
#: results) and the summary of the reproduction (after them).
PAGES_BEFORE: list[str] = ["notebooks/kl_derivation.ipynb"]
PAGES_AFTER: list[str] = ["notebooks/cpu_results.ipynb"]


def registered_notebooks() -> list[str]:
    """Every registered experiment's notebook (:data:`stingylib.experiments.EXPERIMENTS`), in order."""
    from stingylib.experiments import EXPERIMENTS

    return [e.notebook for e in EXPERIMENTS.values() if e.notebook is not None]


#: Notebooks executed by papermill before the build, in this order, as paths relative to the
#: repository root (e.g. "notebooks/table1.ipynb"): the pages of no experiment and, between them,
#: each registered experiment's notebook. Each is written to book/_generated/<name>.ipynb, and
#: _toc.yml must list it as "book/_generated/<stem>" (e.g. "- file: book/_generated/table1").
NOTEBOOKS: list[str] = [*PAGES_BEFORE, *registered_notebooks(), *PAGES_AFTER]

PROFILES = ("smoke", "cpu", "paper")
#: The profile notebooks are executed with when ``--profile`` is not given.
DEFAULT_PROFILE = "smoke"

#: The npm package providing MathJax (3.2.2 is the last 3.x release; pinned for reproducibility).
MATHJAX_NPM = "mathjax@3.2.2"
MATHJAX_CACHE = ROOT / ".cache" / "mathjax"  # npm --prefix (git-ignored)
MATHJAX_DEST = BOOK / "_extra" / "mathjax"  # html_extra_path entry book/_extra → <html>/mathjax
#: Files whose presence means the local MathJax copy is complete (it is copied then renamed).
MATHJAX_REQUIRED = ("tex-chtml.js", "output/chtml/fonts/woff-v2/MathJax_Main-Regular.woff")


def log(msg: str) -> None:
    print(f"[book/build.py] {msg}", flush=True)


# ---------------------------------------------------------------------------------------------
# 1. MathJax
# ---------------------------------------------------------------------------------------------


def _mathjax_complete(directory: Path) -> bool:
    return all((directory / rel).is_file() for rel in MATHJAX_REQUIRED)


def ensure_mathjax() -> Path:
    """Make ``book/_extra/mathjax/`` a complete copy of MathJax 3's ``es5/`` directory.

    Idempotent: returns at once when the copy is already there.
    """
    if _mathjax_complete(MATHJAX_DEST):
        return MATHJAX_DEST

    package = MATHJAX_CACHE / "node_modules" / "mathjax"
    if not _mathjax_complete(package / "es5"):
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError(
                "MathJax is not in .cache/mathjax and npm is not installed; install Node.js/npm "
                f"(apt-get install npm) or run: npm install --prefix .cache/mathjax {MATHJAX_NPM}"
            )
        log(f"installing {MATHJAX_NPM} into {MATHJAX_CACHE.relative_to(ROOT)}/ with npm")
        MATHJAX_CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [npm, "install", "--prefix", str(MATHJAX_CACHE), "--no-audit", "--no-fund",
             "--no-save", MATHJAX_NPM],
            check=True,
        )
        if not _mathjax_complete(package / "es5"):
            raise RuntimeError(f"npm install {MATHJAX_NPM} did not produce {package / 'es5'}")

    version = json.loads((package / "package.json").read_text())["version"]
    if not version.startswith("3."):
        raise RuntimeError(f"{package} is MathJax {version}; this book needs MathJax 3")

    # Copy to a sibling temporary directory, then rename: never a half-copied MathJax.
    MATHJAX_DEST.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".mathjax-", dir=MATHJAX_DEST.parent))
    try:
        staged = tmp / "mathjax"
        shutil.copytree(package / "es5", staged)
        shutil.copy2(package / "LICENSE", staged / "LICENSE")  # Apache-2.0: ship the licence
        if MATHJAX_DEST.exists() and not _mathjax_complete(MATHJAX_DEST):  # an interrupted copy
            shutil.rmtree(MATHJAX_DEST)
        try:
            staged.rename(MATHJAX_DEST)
        except OSError:  # a concurrent build got there first
            if not _mathjax_complete(MATHJAX_DEST):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log(f"MathJax {version} copied to {MATHJAX_DEST.relative_to(ROOT)}/")
    return MATHJAX_DEST


# ---------------------------------------------------------------------------------------------
# 1b. Citation: CITATION.cff as BibTeX, for the intro page
# ---------------------------------------------------------------------------------------------

CITATION = ROOT / "CITATION.cff"
CITATION_BIB = "citation.bib"  # written to GENERATED, literalinclude'd by book/intro.md
#: CFF reference type → BibTeX entry type (those CITATION.cff uses).
BIBTEX_TYPES = {"conference-paper": "inproceedings", "article": "article", "software": "software",
                "unpublished": "unpublished", "report": "techreport"}


def _latex(text: str) -> str:
    """Plain text for a BibTeX field: LaTeX's special characters escaped, ``x^2`` as a superscript."""
    text = re.sub(r"([&%#_])", r"\\\1", str(text))
    return re.sub(r"\^(\d+|\w)", r"$^{\1}$", text)


def _bibtex_names(authors: list[dict]) -> str:
    """CFF persons (family-names, given-names) and entities (name) as a BibTeX author list."""
    names = [f"{a['family-names']}, {a['given-names']}" if "family-names" in a else "{" + a["name"] + "}"
             for a in authors]
    return " and ".join(names)


def _bibtex_entry(ref: dict, key: str) -> str:
    """One CFF reference (or the CFF file itself) as a BibTeX entry."""
    fields = {"title": "{" + _latex(ref["title"]) + "}", "author": _bibtex_names(ref["authors"])}
    if "collection-title" in ref:
        fields["booktitle"] = _latex(ref["collection-title"])
    for cff_key in ("year", "version", "license", "url", "doi"):
        if cff_key in ref:
            fields[cff_key] = str(ref[cff_key])
    if "notes" in ref:
        fields["note"] = _latex(" ".join(str(ref["notes"]).split()))
    body = ",\n".join(f"  {name} = {{{value}}}" for name, value in fields.items())
    return f"@{BIBTEX_TYPES[ref.get('type', 'software')]}{{{key},\n{body}\n}}\n"


def write_citation() -> Path:
    """Write ``book/_generated/citation.bib``: the paper (CITATION.cff's preferred citation), then
    this package, as BibTeX (one source of truth: CITATION.cff)."""
    import yaml  # a dependency of jupyter-book

    cff = yaml.safe_load(CITATION.read_text(encoding="utf-8"))
    paper = cff["preferred-citation"]
    paper_key = f"{paper['authors'][0]['family-names'].lower()}{paper['year']}{paper['title'].split()[0].lower()}"
    text = _bibtex_entry(paper, paper_key) + "\n" + _bibtex_entry(cff, "stingybook")
    dest = GENERATED / CITATION_BIB
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, dest)
    return dest


# ---------------------------------------------------------------------------------------------
# 2. Notebooks
# ---------------------------------------------------------------------------------------------


def _python3_kernelspec_dir(parent: Path) -> Path:
    """A Jupyter data directory whose ``python3`` kernel runs *this* interpreter.

    Put first on JUPYTER_PATH, it shadows any user-level ``python3`` kernelspec that points at a
    different Python, so the notebooks see the same packages as this script.
    """
    spec = parent / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (stingy-book)",
        "language": "python",
        "metadata": {"debugger": False},
    }))
    return parent


def run_notebooks(profile: str, notebooks: list[str] | None = None) -> None:
    """Execute ``notebooks`` (default :data:`NOTEBOOKS`) into ``book/_generated/``."""
    notebooks = NOTEBOOKS if notebooks is None else notebooks
    if not notebooks:
        log("no notebook to execute")
        return
    import papermill  # imported here so --skip-notebooks works without papermill

    GENERATED.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="stingy-book-jupyter-") as jdir:
        old_jupyter_path = os.environ.get("JUPYTER_PATH")
        os.environ["JUPYTER_PATH"] = os.pathsep.join(
            [str(_python3_kernelspec_dir(Path(jdir)))] + ([old_jupyter_path] if old_jupyter_path else [])
        )
        try:
            for rel in notebooks:
                src = ROOT / rel
                if not src.is_file():
                    raise FileNotFoundError(f"notebook listed in NOTEBOOKS not found: {rel}")
                out = generated_path(rel)
                tmp = GENERATED / f".{src.stem}.partial.ipynb"  # hidden: never read by the book
                failed = GENERATED / f".{src.stem}.failed.ipynb"
                failed.unlink(missing_ok=True)
                log(f"executing {rel} (profile={profile}) -> {out.relative_to(ROOT)}")
                t0 = time.perf_counter()
                try:
                    papermill.execute_notebook(
                        str(src),
                        str(tmp),
                        parameters={"profile": profile},
                        kernel_name="python3",
                        cwd=str(ROOT),
                        progress_bar=sys.stderr.isatty(),
                        log_output=False,
                    )
                except BaseException:
                    if tmp.exists():  # keep the partly executed notebook for debugging, hidden
                        os.replace(tmp, failed)
                        log(f"  FAILED; the partly executed notebook is {failed.relative_to(ROOT)}")
                    raise
                os.replace(tmp, out)
                log(f"  done in {time.perf_counter() - t0:.1f} s")
        finally:
            if old_jupyter_path is None:
                os.environ.pop("JUPYTER_PATH", None)
            else:
                os.environ["JUPYTER_PATH"] = old_jupyter_path


def generated_path(notebook: str) -> Path:
    """Where the executed copy of ``notebook`` (a NOTEBOOKS entry) is written."""
    return GENERATED / Path(notebook).name


def _toc_files(node: object) -> set[str]:
    """Every ``file:`` entry of a parsed _toc.yml, without suffix."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("file", "root") and isinstance(value, str):
                found.add(value[:-len(Path(value).suffix)] if Path(value).suffix else value)
            else:
                found |= _toc_files(value)
    elif isinstance(node, list):
        for item in node:
            found |= _toc_files(item)
    return found


def check_notebooks(notebooks: list[str] | None = None, *, need_executed: bool) -> list[str]:
    """Problems with NOTEBOOKS against _toc.yml and book/_generated/ (empty list: all good).

    Each NOTEBOOKS entry must appear in the table of contents as book/_generated/<stem>, every
    book/_generated/ page of the table of contents must come from a NOTEBOOKS entry, and, when
    ``need_executed``, the executed copy must already exist.
    """
    import yaml  # a dependency of jupyter-book

    notebooks = NOTEBOOKS if notebooks is None else notebooks
    toc = _toc_files(yaml.safe_load((ROOT / "_toc.yml").read_text()))
    expected = {generated_path(nb).with_suffix("").relative_to(ROOT).as_posix(): nb for nb in notebooks}
    problems = [f"{nb} is in NOTEBOOKS but _toc.yml does not list {page}"
                for page, nb in expected.items() if page not in toc]
    problems += [f"_toc.yml lists {page} but no NOTEBOOKS entry produces it"
                 for page in sorted(toc) if page.startswith("book/_generated/") and page not in expected]
    if need_executed:
        missing = [nb for nb in notebooks if not generated_path(nb).is_file()]
        if missing:
            problems.append(
                f"not executed yet: {', '.join(missing)}; run `python book/build.py --only-missing "
                "--profile P`, P the profile of the notebooks already executed (or run without "
                "--skip-notebooks) first"
            )
    return problems


# ---------------------------------------------------------------------------------------------
# 3. Profiles: one book, one profile
# ---------------------------------------------------------------------------------------------


class ProfileError(RuntimeError):
    """The executed notebooks do not all carry the same, requested, profile."""


def executed_profile(path: Path) -> str | None:
    """The ``profile`` papermill ran the executed notebook at ``path`` with.

    papermill 2.x records the parameters it injected in ``metadata.papermill.parameters``. None
    when the notebook records no profile: it was executed by something other than this script.
    Raises :class:`ValueError` when ``path`` is not a readable notebook (JSON object).
    """
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path} is not a readable notebook: {exc}") from exc
    node: object = nb
    for key in ("metadata", "papermill", "parameters", "profile"):
        node = node.get(key) if isinstance(node, dict) else None
    return node if isinstance(node, str) else None


def executed_profiles(notebooks: list[str] | None = None) -> dict[str, str | None]:
    """:func:`executed_profile` of each executed copy, by NOTEBOOKS entry (missing left out)."""
    notebooks = NOTEBOOKS if notebooks is None else notebooks
    return {nb: executed_profile(generated_path(nb))
            for nb in notebooks if generated_path(nb).is_file()}


def _describe(profiles: dict[str, str | None]) -> str:
    """``teachers.ipynb (smoke), table1.ipynb (cpu), figure.ipynb (no recorded profile)``."""
    return ", ".join(f"{generated_path(nb).name} ({profile or 'no recorded profile'})"
                     for nb, profile in profiles.items())


def _profile_fix(mode: str, expected: str | None, profiles: dict[str, str | None]) -> str:
    """How to get a consistent book, for ``mode`` "only-missing", "skip-notebooks" or "executed"."""
    found = set(profiles.values())
    single = next(iter(found)) if len(found) == 1 and None not in found else None
    rerun = f"`python book/build.py --profile {expected or 'P'}`"
    if mode == "only-missing":
        fix = (f"rerun without --only-missing ({rerun}) to re-execute every notebook, "
               "or `make clean` first")
        if single:
            fix += f"; or complete the {single} book with `--only-missing --profile {single}`"
    elif mode == "skip-notebooks":
        fix = f"re-execute every notebook with one profile ({rerun}, without --skip-notebooks)"
        if single:
            fix += f"; or build the {single} book as it is: --skip-notebooks without --profile"
    else:
        fix = f"`make clean` and rerun {rerun}"
    return f"To fix: {fix}."


def check_profiles(profiles: dict[str, str | None], expected: str | None = None,
                   *, mode: str = "executed") -> str | None:
    """The one profile all executed notebooks carry; raise :class:`ProfileError` otherwise.

    ``profiles`` maps NOTEBOOKS entries to their :func:`executed_profile`. Every one must record a
    profile, all the same, equal to ``expected`` unless that is None. ``mode`` ("only-missing",
    "skip-notebooks" or "executed") only chooses the advice in the error message. Returns
    ``expected`` when ``profiles`` is empty.
    """
    listing = _describe(profiles)
    fix = _profile_fix(mode, expected, profiles)
    unknown = [generated_path(nb).name for nb, profile in profiles.items() if profile is None]
    if unknown:
        raise ProfileError(
            f"no profile is recorded in {', '.join(unknown)} (book/_generated/; no papermill "
            "parameter `profile` in the notebook metadata): executed by something other than "
            "book/build.py, it cannot tell which results it shows. Executed notebooks: "
            f"{listing}. {fix}")
    found = sorted({profile for profile in profiles.values() if profile is not None})
    if len(found) > 1:
        raise ProfileError(
            f"the executed notebooks in book/_generated/ mix profiles ({', '.join(found)}): "
            f"{listing}; a book must show the results of a single profile. {fix}")
    if found and expected is not None and found[0] != expected:
        raise ProfileError(
            f"profile {expected} was asked for, but the executed notebooks in book/_generated/ "
            f"carry profile {found[0]}: {listing}. {fix}")
    return found[0] if found else expected


# ---------------------------------------------------------------------------------------------
# 4. Jupyter Book
# ---------------------------------------------------------------------------------------------


def build_book(builddir: Path, nitpicky: bool = True) -> int:
    """``jupyter-book build`` the repository root into ``builddir/html``; return its exit code.

    jupyter-book 1.x always writes to ``<path-output>/_build/html``, so ``builddir`` must be a
    directory named ``_build`` and ``--path-output`` is its parent.
    """
    cmd = [
        sys.executable, "-c",
        "import sys; from jupyter_book.cli.main import main; sys.exit(main())",
        "build", str(ROOT),
        "--path-output", str(builddir.parent),
        "--config", str(ROOT / "_config.yml"),
        "--toc", str(ROOT / "_toc.yml"),
        "--builder", "html",
        "--warningiserror", "--keep-going",
        "--all",
    ]
    if nitpicky:
        cmd.append("--nitpick")
    log(f"jupyter-book build -> {builddir / 'html'}")
    return subprocess.run(cmd, cwd=ROOT).returncode


# ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", choices=PROFILES, default=None,
                        help="compute profile passed to every notebook as `profile`, and that "
                             f"every executed notebook must carry (default: {DEFAULT_PROFILE} "
                             "when executing; with --skip-notebooks, any single profile)")
    parser.add_argument("--skip-notebooks", action="store_true",
                        help="do not execute notebooks; build with what is in book/_generated/ "
                             "(all of one profile)")
    parser.add_argument("--only-missing", action="store_true",
                        help="execute only the notebooks that have no executed copy in "
                             "book/_generated/ yet (the others must carry --profile)")
    parser.add_argument("--builddir", type=Path, default=Path("_build"),
                        help="build directory, named _build (default: ./_build); HTML goes to "
                             "<builddir>/html")
    args = parser.parse_args(argv)

    builddir = args.builddir.expanduser().resolve()
    if builddir.name != "_build":
        parser.error(f"--builddir must be a directory named _build (jupyter-book 1.x writes "
                     f"<path-output>/_build/html); got {args.builddir}")

    if args.skip_notebooks and args.only_missing:
        parser.error("--skip-notebooks and --only-missing exclude each other")

    t0 = time.perf_counter()
    try:
        problems = check_notebooks(need_executed=False)
        if problems:
            raise RuntimeError("NOTEBOOKS and _toc.yml disagree:\n  " + "\n  ".join(problems))
        mode = ("skip-notebooks" if args.skip_notebooks
                else "only-missing" if args.only_missing else "executed")
        profile = args.profile or (None if args.skip_notebooks else DEFAULT_PROFILE)
        if args.only_missing:  # before executing anything: never complete a book of another profile
            check_profiles(executed_profiles(), profile, mode=mode)
        ensure_mathjax()
        write_citation()
        if args.skip_notebooks:
            log("--skip-notebooks: using the notebooks already in book/_generated/")
        else:
            todo = [nb for nb in NOTEBOOKS if not (args.only_missing and generated_path(nb).is_file())]
            run_notebooks(profile, todo)
        problems = check_notebooks(need_executed=True)
        if problems:
            raise RuntimeError("\n  ".join(problems))
        built_from = check_profiles(executed_profiles(), profile, mode=mode)
        log(f"building the book from notebooks executed with profile {built_from}")
    except Exception as exc:  # noqa: BLE001 - report and fail with a non-zero status
        log(f"FAILED: {type(exc).__name__}: {str(exc).strip()}")
        return 1

    code = build_book(builddir)
    elapsed = time.perf_counter() - t0
    if code == 0:
        log(f"book built in {elapsed:.1f} s: {builddir / 'html' / 'index.html'}")
    else:
        log(f"jupyter-book build FAILED (exit {code}) after {elapsed:.1f} s")
    return code


if __name__ == "__main__":
    sys.exit(main())
