"""The Jupyter Book: it builds with warnings as errors, is self-contained, and renders its math.

The book is built once per module, from the smoke results trained once per session: every notebook
executed with the smoke profile by ``book/build.py`` in a scratch copy of the book's sources, into a
temporary ``_build``. The browser tests open the built pages in headless Chromium from ``file://``
URLs, with every host name made unresolvable, so they also prove that the pages need no network.

The Chromium helpers (:func:`chromium_dump_dom`, :func:`chromium_screenshot`, :func:`page_dom`)
are meant to be reused by later tests, e.g. for the results pages' tables and figures.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
import tempfile
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parent.parent
BUILD_PY = ROOT / "book" / "build.py"
MATHJAX_SCRIPT = "mathjax/tex-chtml.js"  # relative to the html root

# ---------------------------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------------------------


def load_build_module():
    """book/build.py as a module (for NOTEBOOKS and generated_path)."""
    spec = importlib.util.spec_from_file_location("stingy_book_build", BUILD_PY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


#: What book/build.py reads, copied into a scratch checkout so that building the book in a test never
#: overwrites the developer's executed notebooks in book/_generated/.
BOOK_SOURCES = ("_config.yml", "_toc.yml", "CITATION.cff", "book", "notebooks")


def scratch_checkout(dest: Path) -> Path:
    """A copy of the book's sources at ``dest`` (MathJax linked from this checkout, not copied).

    book/build.py finds everything from its own location, so the copy builds on its own; the
    notebooks still import this checkout's stingylib (which ships the paper's numbers).
    """
    build = load_build_module()
    build.ensure_mathjax()  # in this checkout, once (npm on a fresh clone)
    ignore = shutil.ignore_patterns("_generated", "_extra", "__pycache__", ".ipynb_checkpoints")
    for name in BOOK_SOURCES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=ignore)
        else:
            shutil.copy2(src, dest / name)
    (dest / "book" / "_extra").symlink_to(ROOT / "book" / "_extra", target_is_directory=True)
    return dest


@pytest.fixture(scope="module")
def html_root(tmp_path_factory: pytest.TempPathFactory, smoke_results) -> Path:
    """Build the book once per module, from the smoke results, and return its ``html`` directory.

    The smoke grid is trained once per test session (fixture ``smoke_results``, in the session's
    data root), so the notebooks, executed here with ``--profile smoke``, train nothing. The build
    runs in a scratch copy of the book's sources (:func:`scratch_checkout`).
    """
    scratch = scratch_checkout(tmp_path_factory.mktemp("checkout"))
    builddir = tmp_path_factory.mktemp("book") / "_build"
    proc = subprocess.run(
        [sys.executable, str(scratch / "book" / "build.py"), "--profile", "smoke", "--builddir", str(builddir)],
        cwd=scratch, capture_output=True, text=True, timeout=3600,
    )
    assert proc.returncode == 0, (
        f"book/build.py failed (exit {proc.returncode})\n--- stdout (tail) ---\n"
        f"{proc.stdout[-6000:]}\n--- stderr (tail) ---\n{proc.stderr[-6000:]}"
    )
    return builddir / "html"


# ---------------------------------------------------------------------------------------------
# Static checks of the built HTML
# ---------------------------------------------------------------------------------------------

#: (tag, attribute) pairs whose URL the browser fetches by itself when the page loads.
FETCHED = {("script", "src"), ("link", "href"), ("img", "src"), ("iframe", "src"),
           ("source", "src"), ("video", "src"), ("audio", "src"), ("embed", "src"),
           ("object", "data"), ("image", "href")}


class _AssetParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.assets: list[tuple[str, str, str]] = []  # (tag, attribute, url)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if (tag, name) in FETCHED and value:
                self.assets.append((tag, name, value.strip()))

    handle_startendtag = handle_starttag


def page_assets(page: Path) -> list[tuple[str, str, str]]:
    """Every (tag, attribute, url) of ``page`` that the browser loads on its own."""
    parser = _AssetParser()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser.assets


def is_remote(url: str) -> bool:
    """True for URLs that leave the built site: any scheme (http, https, ftp…) or ``//host``."""
    parts = urlsplit(url)
    return bool(parts.netloc) or parts.scheme not in ("", "data")


def resolve_local(page: Path, url: str) -> Path:
    """The file a relative ``url`` on ``page`` points at (query and fragment dropped)."""
    return (page.parent / unquote(urlsplit(url).path)).resolve()


def html_pages(html_root: Path) -> list[Path]:
    """The site's pages (not the theme's Jinja macro files in _static/, nor MathJax's files)."""
    skip = {"_static", "mathjax", "_sources"}
    return sorted(p for p in html_root.rglob("*.html") if not skip & set(p.relative_to(html_root).parts))


@pytest.mark.slow
def test_book_builds_expected_pages(html_root: Path) -> None:
    for rel in ("index.html", "book/intro.html", "book/method.html", MATHJAX_SCRIPT,
                "mathjax/output/chtml/fonts/woff-v2/MathJax_Main-Regular.woff"):
        assert (html_root / rel).is_file(), f"missing from the built book: {rel}"
    # Nothing outside the table of contents was turned into a page.
    for rel in ("README.html", "notebooks", "tests", "stingylib", "data", ".venv", "node_modules"):
        assert not (html_root / rel).exists(), f"{rel} should not be in the built book"


@pytest.mark.slow
def test_pages_load_no_remote_asset(html_root: Path) -> None:
    pages = html_pages(html_root)
    assert len(pages) >= 3
    remote, broken = [], []
    for page in pages:
        for tag, attr, url in page_assets(page):
            if is_remote(url):
                remote.append(f"{page.relative_to(html_root)}: <{tag} {attr}={url!r}>")
            elif not url.startswith("data:") and not resolve_local(page, url).exists():
                broken.append(f"{page.relative_to(html_root)}: <{tag} {attr}={url!r}>")
    assert not remote, "pages load remote resources:\n" + "\n".join(remote)
    assert not broken, "pages load missing local files:\n" + "\n".join(broken)


@pytest.mark.slow
def test_stylesheets_import_nothing_remote(html_root: Path) -> None:
    pattern = re.compile(r"""(?:url\(\s*['"]?|@import\s+['"])\s*((?:https?:)?//[^'")\s]+)""", re.I)
    offenders = []
    for css in html_root.rglob("*.css"):
        for url in pattern.findall(css.read_text(encoding="utf-8", errors="replace")):
            offenders.append(f"{css.relative_to(html_root)}: {url}")
    assert not offenders, "stylesheets fetch remote resources:\n" + "\n".join(offenders)


@pytest.mark.slow
def test_mathjax_is_local_and_relative(html_root: Path) -> None:
    for rel in ("book/method.html", "book/intro.html"):
        page = html_root / rel
        scripts = [url for tag, _, url in page_assets(page) if tag == "script" and "tex-chtml" in url]
        assert len(scripts) == 1, f"{rel}: expected one MathJax script, found {scripts}"
        assert not is_remote(scripts[0]) and not scripts[0].startswith("/"), scripts[0]
        assert resolve_local(page, scripts[0]) == (html_root / MATHJAX_SCRIPT).resolve()
        assert "/_static/mathjax" not in scripts[0]  # shipped by html_extra_path, not _static


@pytest.mark.slow
def test_method_equations_are_numbered_and_referenced(html_root: Path) -> None:
    text = (html_root / "book" / "method.html").read_text(encoding="utf-8")
    for label in ("softmax", "stingy-sparse", "stingy-smooth", "reversed", "kd-loss",
                  "sparse-target", "delta-approx", "ce-uniform", "stingy-loss"):
        assert f'id="equation-{label}"' in text, f"equation {label!r} missing"
        assert f'href="#equation-{label}"' in text, f"equation {label!r} never referenced"


# ---------------------------------------------------------------------------------------------
# Headless Chromium helpers (reusable)
# ---------------------------------------------------------------------------------------------


def find_chromium() -> str:
    """Path of the Chromium binary, or skip the test."""
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("chromium not installed: apt-get install chromium")


def chromium(url: str, *extra: str, budget_ms: int = 10_000, timeout_s: int = 60) -> subprocess.CompletedProcess:
    """Run headless Chromium once on ``url`` with a fresh profile and no network at all.

    ``--host-resolver-rules`` makes every host name unresolvable, so a page that needs anything
    remote fails visibly instead of silently fetching it. ``--virtual-time-budget`` lets the
    page's scripts (MathJax) finish before Chromium dumps or screenshots it.
    """
    exe = find_chromium()
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        cmd = [
            "timeout", str(timeout_s), exe,
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--no-first-run", f"--user-data-dir={profile}",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            f"--virtual-time-budget={budget_ms}",
            *extra, url,
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s + 30)
    assert proc.returncode == 0, f"chromium exited {proc.returncode}\n{proc.stderr[-3000:]}"
    return proc


def chromium_dump_dom(url: str, **kwargs) -> str:
    """The DOM of ``url`` after its scripts ran (``--dump-dom``)."""
    return chromium(url, "--dump-dom", **kwargs).stdout


def chromium_screenshot(url: str, png: Path, width: int = 1280, height: int = 4000, **kwargs) -> Path:
    """Save a ``width`` × ``height`` screenshot of ``url`` to ``png`` and return it."""
    chromium(url, f"--screenshot={png}", f"--window-size={width},{height}", "--hide-scrollbars", **kwargs)
    assert png.is_file() and png.stat().st_size > 10_000, f"no usable screenshot at {png}"
    return png


def page_url(html_root: Path, rel: str) -> str:
    """``file://`` URL of a built page (use the real page, not the redirecting index.html)."""
    page = html_root / rel
    assert page.is_file(), f"no built page {rel}"
    return page.resolve().as_uri()


def page_dom(html_root: Path, rel: str, **kwargs) -> str:
    return chromium_dump_dom(page_url(html_root, rel), **kwargs)


def mathjax_errors(dom: str) -> list[str]:
    """TeX that MathJax could not typeset: syntax errors (``mjx-merror``) and undefined macros
    (shown in red by the ``noundefined`` extension; found in the assistive MathML)."""
    errors = re.findall(r"<mjx-merror\b[^>]*>.{0,200}", dom)
    errors += re.findall(r'<mtext mathcolor="red">([^<]*)</mtext>', dom)
    return errors


def mathjax_containers(dom: str) -> tuple[int, int]:
    """(all, display) counts of MathJax-rendered formulas in a dumped DOM."""
    return (len(re.findall(r"<mjx-container\b", dom)),
            len(re.findall(r'<mjx-container\b[^>]*\bdisplay="true"', dom)))


# ---------------------------------------------------------------------------------------------
# Browser tests
# ---------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.browser
def test_method_page_renders_math_offline(html_root: Path, tmp_path: Path) -> None:
    n_numbered = (html_root / "book" / "method.html").read_text(encoding="utf-8").count('id="equation-')
    assert n_numbered >= 12
    dom = page_dom(html_root, "book/method.html")
    n_all, n_display = mathjax_containers(dom)
    assert n_display >= n_numbered, f"{n_numbered} numbered equations but {n_display} typeset"
    assert n_all >= 60, f"expected inline math typeset too, got {n_all} formulas"
    assert not mathjax_errors(dom), f"MathJax could not typeset: {mathjax_errors(dom)}"
    assert r"\begin{aligned}" not in dom.split("<body", 1)[-1], "untypeset TeX left on the page"

    # MathJax's CHTML fonts resolve inside the built site (they are fetched lazily by the CSS).
    fonts = set(re.findall(r'url\("?([^")]+\.woff2?)"?\)', dom))
    assert fonts, "no MathJax web fonts referenced"
    mathjax_dir = (html_root / "mathjax").resolve()
    for font in fonts:
        assert font.startswith("file://"), f"font not local: {font}"
        path = Path(unquote(urlsplit(font).path))
        assert path.is_file() and mathjax_dir in path.parents, f"font missing: {font}"

    png = chromium_screenshot(page_url(html_root, "book/method.html"), tmp_path / "method.png")
    print(f"screenshot of the method page: {png}")


@pytest.mark.slow
@pytest.mark.browser
def test_intro_page_renders(html_root: Path) -> None:
    dom = page_dom(html_root, "book/intro.html")
    assert "Nasty Teacher" in dom and "Stingy Teacher" in dom
    n_all, n_display = mathjax_containers(dom)
    assert n_display >= 1 and n_all >= 5
    assert not mathjax_errors(dom), f"MathJax could not typeset: {mathjax_errors(dom)}"


@pytest.mark.slow
def test_intro_page_shows_both_citations_as_bibtex(html_root: Path) -> None:
    """The paper and this package, as BibTeX generated from CITATION.cff, in a highlighted block."""
    html = (html_root / "book" / "intro.html").read_text(encoding="utf-8")
    block = re.search(r'<div class="highlight-bibtex[^"]*">(.*?)</pre>', html, re.S)
    assert block, "no BibTeX block on the intro page"
    text = unescape(re.sub(r"<[^>]+>", "", block[1]))
    assert re.findall(r"^@(\w+)\{(\w+),$", text, re.M) == [("inproceedings", "ma2022sparse"), ("software", "stingybook")]
    assert "title = {{Sparse Logits Suffice to Fail Knowledge Distillation}}" in text
    assert "author = {Ma, Haoyu and Huang, Yifan" in text


# ---------------------------------------------------------------------------------------------
# Results pages (the notebooks, executed with the smoke profile) and the reference pages
# ---------------------------------------------------------------------------------------------

#: The pages the notebooks and book/*.md add, in the order of the table of contents.
READING_ORDER = ("book/method.html", "book/_generated/kl_derivation.html", "book/_generated/teachers.html",
                 "book/_generated/table1.html", "book/_generated/table2.html", "book/_generated/figure.html",
                 "book/_generated/cpu_results.html", "book/_generated/attacks.html",
                 "book/reproduce.html", "book/api.html")

#: The row labels of the paper's Table 1, as the results pages print them.
TABLE1_ROWS = ("Student baseline",
               *(f"{t} ({v})" for t in ("ResNet-18", "ResNet-50", "ResNeXt-29") for v in ("normal", "nasty", "stingy")))
TABLE1_HEADER = ["Teacher network", "Teacher accuracy", "ShuffleNetV2", "MobileNetV2", "ResNet-18", "Teacher self"]


class _TableParser(HTMLParser):
    """Every <table> of a page as rows of cell texts (nested markup inside a cell is flattened)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self.tables[-1].append([])
        elif tag in ("td", "th") and self.tables and self.tables[-1]:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def html_tables(html: str) -> list[list[list[str]]]:
    """The tables of ``html``: a list of tables, each a list of rows, each a list of cell texts."""
    parser = _TableParser()
    parser.feed(html)
    return parser.tables


def table1_tables(html: str) -> list[list[list[str]]]:
    """The tables of ``html`` laid out like the paper's Table 1 (its header and all its row labels)."""
    return [t for t in html_tables(html)
            if t and t[0] == TABLE1_HEADER and set(TABLE1_ROWS) <= {row[0] for row in t[1:] if row}]


@pytest.mark.slow
def test_results_and_reference_pages_are_built_in_order(html_root: Path) -> None:
    for rel in READING_ORDER:
        assert (html_root / rel).is_file(), f"missing from the built book: {rel}"
    for here, there in zip(READING_ORDER, READING_ORDER[1:]):
        page = html_root / here
        link = re.search(r'<link rel="next"[^>]*href="([^"]+)"', page.read_text(encoding="utf-8"))
        assert link and resolve_local(page, link.group(1)) == (html_root / there).resolve(), (here, there)
    # Executed with the smoke profile, from the session's results: the pages say so.
    for rel in READING_ORDER[2:6]:
        text = (html_root / rel).read_text(encoding="utf-8")
        assert "Profile <code" in text and "smoke" in text, f"{rel} does not state its profile"
        settings = re.search(r"<details><summary>Every setting of the <code>smoke</code> profile.*?</details>", text, re.S)
        assert settings and "<table" in settings.group(0), f"{rel} lacks the table of its settings"
        assert "<code>table1.dataset</code>" in settings.group(0) or "<code>table2[0].epochs</code>" in settings.group(0)
        assert "git commit" in text and "training wall time" in text, f"{rel} lacks the provenance"
        assert "Traceback" not in text and 'class="output traceback' not in text, f"{rel} shows an error"


@pytest.mark.slow
def test_api_page_documents_the_library(html_root: Path) -> None:
    text = (html_root / "book" / "api.html").read_text(encoding="utf-8")
    for name in ("stingylib.transforms.stingy_sparse", "stingylib.transforms.TRANSFORMS", "stingylib.losses.kd_loss",
                 "stingylib.experiments.table1.table1_frame", "stingylib.experiments.ensure.ensure_results",
                 "stingylib.paper.paper_table1", "stingylib.plots.plot_figure", "stingylib.profiles.Profile",
                 "stingylib.runs.config.RunConfig", "stingylib.runs.record.RunRecord", "stingylib.methods.base.Method",
                 "stingylib.methods.kd.KD", "stingylib.engine.loop.fit", "stingylib.engine.locked.train_run",
                 "stingylib.experiments.base.Experiment", "stingylib.runs.metrics.EpochMetrics"):
        assert f'id="{name}"' in text, f"{name} is not documented on the API page"


@pytest.mark.slow
@pytest.mark.browser
def test_table1_page_shows_the_run_beside_the_paper(html_root: Path, tmp_path: Path) -> None:
    dom = page_dom(html_root, "book/_generated/table1.html")
    tables = table1_tables(dom)
    assert len(tables) == 3, f"expected this run, the paper and the other metric; found {len(tables)} Table 1s"
    cells = [{row[0]: row[1:] for row in t[1:]} for t in tables]
    paper_cells = [c for c in cells if c["ResNet-18 (normal)"][1].startswith("74.24")]
    assert len(paper_cells) == 1, "the paper's Table 1 (ResNet-18 → ShuffleNetV2: 74.24) is not on the page"
    assert paper_cells[0]["ResNet-18 (normal)"][1] == "74.24(+3.07)"
    assert paper_cells[0]["ResNet-18 (stingy)"][0] == "77.44(+0.00)"
    for run in (c for c in cells if c is not paper_cells[0]):  # this run: digits numbers, same layout
        for t in ("ResNet-18", "ResNet-50", "ResNeXt-29"):
            normal, stingy = run[f"{t} (normal)"][0], run[f"{t} (stingy)"][0]
            assert stingy == f"{normal}(+0.00)", "a stingy teacher must be exactly as accurate as its normal one"
    assert not mathjax_errors(dom), f"MathJax could not typeset: {mathjax_errors(dom)}"
    png = chromium_screenshot(page_url(html_root, "book/_generated/table1.html"), tmp_path / "table1.png")
    print(f"screenshot of the Table 1 page: {png}")


@pytest.mark.slow
@pytest.mark.browser
def test_figure_page_shows_the_glued_figure(html_root: Path, tmp_path: Path) -> None:
    from PIL import Image

    page = html_root / "book" / "_generated" / "figure.html"
    dom = page_dom(html_root, "book/_generated/figure.html")
    figure = re.search(r'<figure[^>]*id="fig-sparse-smooth-reversed"[^>]*>(.*?)</figure>', dom, re.S)
    assert figure, "the glued figure (fig-sparse-smooth-reversed) is not on the figure page"
    img = re.search(r'<img[^>]*src="([^"]+\.png)"', figure.group(1))
    assert img, "the figure has no PNG image"
    src = img.group(1)
    path = Path(unquote(urlsplit(src).path)) if src.startswith("file:") else resolve_local(page, src)
    assert path.is_file() and (html_root / "_images") in path.parents, f"image not in the built site: {src}"
    with Image.open(path) as image:
        assert image.format == "PNG" and image.width >= 600 and image.height >= 400, image.size
    assert "Fig." in figure.group(1) and "sparse ratio" in figure.group(1)  # the numbered caption
    png = chromium_screenshot(page_url(html_root, "book/_generated/figure.html"), tmp_path / "figure.png")
    print(f"screenshot of the figure page: {png}")


@pytest.mark.slow
@pytest.mark.browser
def test_attack_page_shows_the_table_the_verdict_and_the_mechanism(html_root: Path, tmp_path: Path) -> None:
    dom = page_dom(html_root, "book/_generated/attacks.html")
    tables = html_tables(dom)
    attack = [t for t in tables if any("tail fill" in " ".join(row) for row in t)
              and any("recovered" in " ".join(row) for row in t)]  # not the table of the profile's settings
    assert attack, "the attack table is missing"
    text = " ".join(" ".join(row) for row in attack[0])
    for row in ("label-only teacher", "truncated top-N probabilities", "stingy-smooth (oracle tail)", "clipped target",
                "logit standardisation", "skeptical student", "label smoothing ε=0.1"):
        assert row in text, row
    assert "recovered" in text and "ResNet-18" in text and "MobileNetV2" in text
    assert "By the rule fixed beforehand the defence" in dom  # the verdict, computed from the records
    for key in ("fig-attack-diagnostics-resnet18", "fig-attack-diagnostics-mobilenetv2"):
        assert re.search(rf'<figure[^>]*id="{key}"[^>]*>.*?<img', dom, re.S), key
    assert not mathjax_errors(dom), f"MathJax could not typeset: {mathjax_errors(dom)}"
    png = chromium_screenshot(page_url(html_root, "book/_generated/attacks.html"), tmp_path / "attacks.png")
    print(f"screenshot of the attack page: {png}")


@pytest.mark.slow
@pytest.mark.browser
def test_derivation_and_teacher_pages_render(html_root: Path) -> None:
    dom = page_dom(html_root, "book/_generated/kl_derivation.html")
    n_all, n_display = mathjax_containers(dom)
    assert n_display >= 1 and n_all >= 20
    assert not mathjax_errors(dom), f"MathJax could not typeset: {mathjax_errors(dom)}"
    assert 'href="../method.html#equation-ce-uniform"' in dom  # cross-page equation reference
    for key in ("fig-kl-rel-error", "fig-kl-tv"):
        assert re.search(rf'<figure[^>]*id="{key}"[^>]*>.*?<img', dom, re.S), key
    dom = page_dom(html_root, "book/_generated/teachers.html")
    for key in ("fig-teacher-outputs-tau1", "fig-teacher-outputs-kd"):
        assert re.search(rf'<figure[^>]*id="{key}"[^>]*>.*?<img', dom, re.S), key
    accuracies = [t for t in html_tables(dom) if any(row and row[0] == "ResNeXt-29" for row in t)]
    assert accuracies, "the teacher-accuracy table is missing"
