"""The Jupyter Book: it builds with warnings as errors, is self-contained, and renders its math.

The book is built once per module (``book/build.py --skip-notebooks`` into a temporary
``_build``; notebooks not executed yet are run first with the smoke profile). The browser tests open the built pages in headless Chromium from ``file://`` URLs,
with every host name made unresolvable, so they also prove that the pages need no network.

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


@pytest.fixture(scope="module")
def html_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the book once and return its ``html`` directory.

    Notebooks are not executed (``--skip-notebooks``) when every notebook of book/build.py's
    NOTEBOOKS already has its executed copy in book/_generated/; otherwise the missing ones are
    executed first with the ``smoke`` profile (``--only-missing``), as the book cannot be built
    without them.
    """
    build = load_build_module()
    missing = [nb for nb in build.NOTEBOOKS if not build.generated_path(nb).is_file()]
    mode = ["--profile", "smoke", "--only-missing"] if missing else ["--skip-notebooks"]
    builddir = tmp_path_factory.mktemp("book") / "_build"
    proc = subprocess.run(
        [sys.executable, str(BUILD_PY), *mode, "--builddir", str(builddir)],
        cwd=ROOT, capture_output=True, text=True, timeout=3600,
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
