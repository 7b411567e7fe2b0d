"""The course website (issue 16): built offline, every page present and naming its source,
figures and math visible in a real browser, docstrings that are not reStructuredText shown
as written.

The whole site is built once for this file (fast mode: every tutorial runs with
``MINIJOINT_FAST=1``; about a minute on 2 cores); the tests that need it, or that start a
kernel, are marked ``notebook`` like the tutorials' own (``-m "not notebook"`` skips them).
The browser check drives Debian's Chromium over the DevTools pipe and skips, saying how to
install it, where there is none.
"""
from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minijoint.site import NotebookFailed, SiteBuildError, build_site
from minijoint.site import stage
from minijoint.site.browser import CHROMIUM, find_chromium, inspect_page
from minijoint.site.docstrings import escape_line, rst_problems, tolerant_rst
from minijoint.site.execute import execute_notebook

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = sorted((ROOT / "tutorials").glob("*.ipynb"))
SOURCE = re.compile(r'<p class="minijoint-source">Source: <code>([^<]*)</code></p>')


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    return build_site(tmp_path_factory.mktemp("site") / "out", fast=True)


def _page(site: Path, name: str) -> str:
    path = site / name
    assert path.is_file(), f"{name} is missing from the built site ({site})"
    return path.read_text(encoding="utf-8")


def _text(page: str) -> str:
    """The page's text, tags dropped and entities decoded (for "does it say X")."""
    return html.unescape(re.sub(r"<[^>]+>", "", page))


# ---- the pages ---------------------------------------------------------------------------
@pytest.mark.notebook   # runs the tutorials in Jupyter kernels
def test_every_page_is_built(site):
    expected = ["index.html", "README.html", "docs/method.html", "exercises/index.html",
                "api/index.html"]
    expected += [f"tutorials/{p.stem}.html" for p in TUTORIALS]
    expected += [f"api/{name}.html" for name in stage.package_modules()]
    if (ROOT / "docs" / "teaching.md").exists():
        expected.append("docs/teaching.html")
    missing = [name for name in expected if not (site / name).is_file()]
    assert not missing, f"pages missing from the site: {missing}"
    assert len(TUTORIALS) >= 9


@pytest.mark.notebook   # runs the tutorials in Jupyter kernels
def test_markdown_pages_hold_their_headings(site):
    for source, page in [("README.md", "README.html"), ("docs/method.md", "docs/method.html")]:
        headings = re.findall(r"^#{1,3} (.+)$", (ROOT / source).read_text(encoding="utf-8"), re.M)
        text = _text(_page(site, page))
        absent = [h for h in headings if re.sub(r"[`*]", "", h).strip() not in text]
        assert headings and not absent, f"{page} lacks the headings {absent} of {source}"


@pytest.mark.notebook   # runs the tutorials in Jupyter kernels
@pytest.mark.parametrize("notebook", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_tutorial_page_is_executed_with_figures(site, notebook):
    page = _page(site, f"tutorials/{notebook.stem}.html")
    images = re.findall(r'<img[^>]+src="([^"]+)"', page)
    assert images, f"{notebook.name}: its page shows no figure (was it executed?)"
    for src in images:
        assert (site / "tutorials" / src).resolve().is_file(), f"{notebook.name}: {src} missing"
    assert "cell_output" in page, f"{notebook.name}: its page shows no cell output"
    assert "Traceback" not in _text(page), f"{notebook.name}: an error is shown on its page"
    assert "Run for this site with MINIJOINT_FAST=1" in _text(page), "no note of fast mode"


@pytest.mark.notebook   # runs the tutorials in Jupyter kernels
def test_every_page_names_where_its_content_lives(site):
    pages = [p for p in site.rglob("*.html")
             if not p.relative_to(site).parts[0].startswith("_")
             and p.name not in {"genindex.html", "search.html", "py-modindex.html"}]
    assert len(pages) > 30
    for path in pages:
        found = SOURCE.findall(path.read_text(encoding="utf-8"))
        assert len(found) == 1, f"{path.relative_to(site)}: expected one Source line, got {found}"
        where = found[0].split(" ")[0]
        if where != "the":   # "the docstrings of minijoint/" (the API index)
            assert (ROOT / where).exists(), f"{path.relative_to(site)} names {where}, not in the repo"
    assert SOURCE.findall(_page(site, "tutorials/04_bptt_by_hand.html")) == [
        "tutorials/04_bptt_by_hand.ipynb"]
    assert SOURCE.findall(_page(site, "api/minijoint.snn.lif.html")) == ["minijoint/snn/lif.py"]


@pytest.mark.notebook   # runs the tutorials in Jupyter kernels
def test_api_pages_render_docstrings(site):
    lif = _page(site, "api/minijoint.snn.lif.html")
    for name in ("lif_forward", "lif_backward", "LIFTrace", "check_settings"):
        assert f'id="minijoint.snn.lif.{name}"' in lif, f"the LIF page does not document {name}"
    # LIFTrace's hand-aligned fields stay one per line, in a block of their own
    assert re.search(r"<pre>(?:<span></span>)?gy +∂L/∂yᵗ[^<]*\ns +s\(u_preᵗ\)", lif), "LIFTrace's columns were folded"
    # the :math: roles of the digits docstring reach MathJax as \( ... \)
    digits = _page(site, "api/minijoint.data.digits.html")
    assert re.search(r'<span class="math[^"]*">\\\(.*\\lfloor', digits)
    # |x| in a docstring is text, not an (undefined) substitution
    surrogate = _text(_page(site, "api/minijoint.snn.surrogate.html"))
    assert "1 − |z|" in surrogate and "problematic" not in surrogate


@pytest.mark.notebook   # runs the tutorials in Jupyter kernels
def test_the_site_needs_no_network(site):
    assert (site / "_static" / "mathjax" / "tex-chtml.js").is_file(), "MathJax is not bundled"
    for path in site.rglob("*.html"):
        page = path.read_text(encoding="utf-8")
        remote = re.findall(r'<(?:script|link|img)[^>]+(?:src|href)="((?:https?:)?//[^"]+)"', page)
        assert not remote, f"{path.relative_to(site)} loads {remote}"


@pytest.mark.notebook   # runs the tutorials in Jupyter kernels
def test_exercises_are_in_student_form(site):
    from minijoint.course import EXERCISES
    index = _text(_page(site, "exercises/index.html"))
    pages = sorted((site / "exercises").glob("0*.html"))
    assert len(pages) == len({e.notebook for e in EXERCISES.values()}), index
    for page in pages:
        text = _text(page.read_text(encoding="utf-8"))
        assert "write your code here" in text, f"{page.name} is not the student form"
        assert "### BEGIN SOLUTION" not in text, f"{page.name} shows a solution"
    assert (site / "_downloads").is_dir() and list((site / "_downloads").rglob("*.ipynb"))
    teaching = (ROOT / "docs" / "teaching.md").exists()
    assert ('href="../docs/teaching.html"' in _page(site, "exercises/index.html")) == teaching


# ---- in a real browser -------------------------------------------------------------------
@pytest.fixture(scope="module")
def chromium():
    path = find_chromium()
    if path is None:
        pytest.skip(f"chromium not found at {CHROMIUM}: apt-get install chromium")
    return path


@pytest.mark.notebook   # runs the tutorials in Jupyter kernels
@pytest.mark.parametrize("page, figures", [("tutorials/04_bptt_by_hand.html", True),
                                           ("api/minijoint.data.digits.html", False)])
def test_browser_shows_figures_and_typeset_math(site, chromium, page, figures, tmp_path):
    seen = inspect_page(site / page, chromium=chromium, screenshot=tmp_path / "page.png")
    assert not seen.external, f"{page} asked the network for {seen.external}"
    assert seen.mathjax_version, f"{page} did not load MathJax"
    assert seen.math > 0, f"{page}: MathJax typeset nothing"
    assert not seen.raw_math, f"{page}: math left raw in the text: {seen.raw_math}"
    assert bool(seen.images) == figures
    assert not seen.broken_images, f"{page}: pictures that did not load: {seen.broken_images}"
    assert (tmp_path / "page.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_browser_check_catches_a_broken_page(chromium, tmp_path):
    """The check can fail: a missing picture and a formula nobody typesets are reported."""
    (tmp_path / "bad.html").write_text("<html><body><p>energy $E = mc^2$ and \\(x\\)</p>"
                                       '<img src="missing.png"></body></html>')
    seen = inspect_page(tmp_path / "bad.html", chromium=chromium)
    assert seen.broken_images and seen.math == 0 and seen.mathjax_version is None
    assert seen.raw_math == ["$E = mc^2$", "\\(x\\)"]


# ---- the build's refusals ----------------------------------------------------------------
def test_refuses_a_folder_it_did_not_write(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not empty.*no .minijoint-site"):
        build_site(tmp_path)
    with pytest.raises(FileExistsError, match="is a file"):
        build_site(tmp_path / "notes.txt")
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_refuses_an_unknown_tutorial(tmp_path):
    with pytest.raises(ValueError, match="no tutorial matches '99'.*01_lif_neuron.ipynb"):
        build_site(tmp_path / "out", tutorials=["99"])


def test_the_command_line_refuses_with_one_line(tmp_path, capsys):
    from minijoint import cli
    (tmp_path / "notes.txt").write_text("mine")
    assert cli.main(["site", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith(f"error: {tmp_path}")
    assert cli.main(["site", str(tmp_path / "out"), "--tutorial", "99"]) == 2
    assert "error: no tutorial matches '99'" in capsys.readouterr().err
    assert (tmp_path / "notes.txt").read_text() == "mine" and not (tmp_path / "out").exists()


def test_says_it_needs_a_checkout(tmp_path, monkeypatch):
    monkeypatch.setattr(stage, "ROOT", tmp_path / "site-packages")   # as an installed wheel
    with pytest.raises(SiteBuildError, match="built from a checkout.*no README.md, docs/site, "
                                             "tutorials: clone the repository"):
        build_site(tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_says_what_to_install(tmp_path, monkeypatch):
    import minijoint.site as site_module
    monkeypatch.setitem(site_module.NEEDS, "no_such_module_xyz", "no-such-dist")
    with pytest.raises(SiteBuildError, match=r"no-such-dist.*pip install -e \"\.\[site\]\""):
        build_site(tmp_path / "out", tutorials=["01"])
    assert not (tmp_path / "out").exists()


@pytest.mark.notebook   # runs the tutorials in Jupyter kernels
def test_a_failing_tutorial_stops_the_build_naming_the_cell(tmp_path):
    import nbformat
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1"),
                                         nbformat.v4.new_code_cell("raise ValueError('boom')")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "broken.ipynb")
    with pytest.raises(NotebookFailed, match=r"(?s)broken.ipynb failed.*fast mode.*in cell 1:\n"
                                             r"raise ValueError\('boom'\).*boom"):
        execute_notebook(tmp_path / "broken.ipynb", tmp_path / "out.ipynb", fast=True)
    assert not (tmp_path / "out.ipynb").exists()


# ---- docstrings that are not reStructuredText --------------------------------------------
def test_valid_rst_is_left_alone():
    lines = ["Sum of ``x`` (see :func:`lif`); *emphasis* and **strong**.", "",
             "Forward::", "", "    |a| * b   aligned", "", ":math:`\\lfloor N/B \\rfloor`"]
    assert tolerant_rst(lines) == lines


def test_plain_text_is_escaped_or_shown_as_written():
    assert escape_line("|a − b| / max(|a|, |b|)") == r"\|a − b| / max(\|a|, \|b|)"
    assert escape_line("U (*B, OC, r) and ``|x|``") == r"U (\*B, OC, r) and ``|x|``"
    assert escape_line("running_* (C,)") == "running_* (C,)"   # not an opener: left alone
    aligned = ["One layer.", "", "macs      per image: C·OC", "rate      of ``x``  spikes"]
    assert tolerant_rst(aligned) == ["One layer.", "", "::", "",
                                     "    macs      per image: C·OC",
                                     "    rate      of x      spikes", ""]


_WORD = st.from_regex(r"[a-z]{1,6}", fullmatch=True)
_TOKEN = st.one_of(_WORD, _WORD, st.sampled_from(
    ["|", "*", "**", "_", "::", "`", "``code``", ":func:`name`", "|x|", "(*B,", "a_",
     "-", "=", "   ", ">>>", "+--+", "..", "[1]_"]))
_LINE = st.builds(lambda indent, toks: " " * indent + " ".join(toks),
                  st.sampled_from([0, 0, 2, 4]), st.lists(_TOKEN, max_size=8))


@settings(max_examples=60, deadline=None)
@given(st.lists(_LINE, min_size=1, max_size=8))
def test_any_docstring_comes_out_valid_and_whole(lines):
    out = tolerant_rst(lines)
    assert not rst_problems(out), "\n".join(out)
    words = lambda ls: set(re.findall(r"[a-z]+", re.sub(r":\w+:`", "`", "\n".join(ls))))  # noqa: E731
    assert words(lines) <= words(out) | {"code", "name"}
