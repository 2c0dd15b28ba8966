"""The built website, opened in a real browser (``make site-test``, part of ``make test``).

Serves ``build/book/html`` on localhost, opens it in headless Chromium (Debian's
``chromium`` here, the runner's Chrome in the workflow; ``CHROME_BIN`` picks
another) driven by Playwright, and checks what a reader needs: the landing
page's syllabus links to every notebook, every internal link on it answers, a
notebook page shows its rendered plots, and the results page has the numbers;
on a phone (400 px) no page is wider than the screen, and on a laptop (1280 px)
no DataFrame hides columns behind a scroll; the notebooks' exercise links open
the exercise pages, whose title comes first, and the references page has every
entry a notebook can cite. Screenshots go to ``build/book/screenshots/``. The browser gets a fresh profile
and no network beyond localhost: any other request is refused and reported.

Not in ``tests/``: it needs the built site and a browser, and ``make unit`` stays fast.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import threading
from pathlib import Path
from urllib.parse import urldefrag, urljoin, urlparse

import pytest
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "build" / "book" / "html"
SHOTS = ROOT / "build" / "book" / "screenshots"
NOTEBOOKS = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
#: The notebook page whose plots are checked and photographed (loss curves).
PLOTTED = "02_dot_product_v1"
#: The notebook pages whose exercise links are followed (issue 17).
EXERCISED = (
    "07_evaluating_recommendations",
    "08_learning_to_rank",
    "09_side_features_and_cold_start",
    "10_scaling",
)
PHONE = {"width": 400, "height": 800}
LAPTOP = {"width": 1280, "height": 900}
#: Each DataFrame of a page: its width and the width of the box it scrolls in, in px.
DATAFRAME_WIDTHS = """() => Array.from(document.querySelectorAll('article table.dataframe'), t => {
  const box = t.closest('.output') || t.parentElement;
  return {table: t.scrollWidth, box: box.clientWidth, columns: t.rows[0].cells.length};
})"""
MATHJAX_HOSTS = {"cdn.jsdelivr.net"}
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _browser_path() -> str:
    found = os.environ.get("CHROME_BIN") or next(filter(None, map(shutil.which, BROWSERS)), None)
    if not found:
        pytest.fail(
            "No Chromium or Chrome found: install Debian's chromium (apt-get install chromium; "
            ".ci/run does it) or set CHROME_BIN to a Chrome or Chromium binary."
        )
    return found


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site_url():
    """Serve the built site on a free localhost port."""
    if not (SITE / "index.html").is_file():
        pytest.fail(f"{SITE}/index.html does not exist: run make book first")
    handler = functools.partial(_QuietHandler, directory=str(SITE))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    thread.join()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """A headless Chromium with a fresh profile; yields (context, refused external URLs)."""
    profile = tmp_path_factory.mktemp("chromium-profile")
    refused: list[str] = []

    def only_localhost(route):
        host = urlparse(route.request.url).hostname
        if host in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile),
            executable_path=_browser_path(),
            headless=True,
            args=FLAGS,
            viewport={"width": 1280, "height": 900},
        )
        context.route("**/*", only_localhost)
        yield context, refused
        context.close()


@pytest.fixture
def page(browser):
    context, _ = browser
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    page.close()
    assert not errors, f"JavaScript errors on {page.url}: {errors}"


def _shot(page, name: str, at: str | None = None) -> Path:
    """Photograph the viewport; with ``at`` (a selector), scrolled to its first match."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    if at:
        page.locator(at).first.evaluate("e => e.scrollIntoView({block: 'center'})")
        page.wait_for_timeout(500)  # the theme folds its table of contents in 0.4 s
    path = SHOTS / name
    page.screenshot(path=str(path))
    return path


def _site_pages() -> list[str]:
    """Every HTML page of the built site, relative to its root (the theme's files left out)."""
    pages = (p.relative_to(SITE) for p in SITE.rglob("*.html"))
    return sorted(p.as_posix() for p in pages if not p.parts[0].startswith("_"))


def _reference_anchors() -> list[str]:
    """The anchors of book/references.md: one per entry, its ``### Author Year`` heading."""
    text = (ROOT / "book" / "references.md").read_text(encoding="utf-8")
    return [
        title.strip().lower().replace(" ", "-") for title in re.findall(r"^### (.+)$", text, re.M)
    ]


#: Where each phone and laptop screenshot looks: page, selector (None: the top).
PHOTOGRAPHED = {
    "landing": ("", "article table"),
    "07": ("notebooks/07_evaluating_recommendations.html", "article a[href*='exercises/']"),
    "08": ("notebooks/08_learning_to_rank.html", "article a[href*='exercises/']"),
    "09": ("notebooks/09_side_features_and_cold_start.html", "article a[href*='exercises/']"),
    "10": ("notebooks/10_scaling.html", "article a[href*='exercises/']"),
    "exercise-07": ("exercises/07_evaluating_recommendations.html", None),
}


def test_landing_page_has_the_syllabus_linking_every_notebook(page, site_url):
    page.goto(site_url)
    assert "Collaborative filtering with Keras" in page.title()
    heading = page.locator("main h1").first.inner_text()
    assert "Collaborative filtering with Keras" in heading
    syllabus = page.locator("main table").filter(has_text="what it teaches")
    assert syllabus.count() == 1, "the landing page has no syllabus table"
    links = syllabus.locator("tbody tr td:first-child a")
    texts = [links.nth(i).inner_text().strip() for i in range(links.count())]
    assert texts == NOTEBOOKS, f"syllabus rows {texts}, notebooks {NOTEBOOKS}"
    hrefs = [links.nth(i).get_attribute("href") for i in range(links.count())]
    assert hrefs == [f"notebooks/{stem}.html" for stem in NOTEBOOKS]
    assert page.get_by_role("heading", name="Quick start").count() == 1
    _shot(page, "landing.png")


def test_every_internal_link_on_the_landing_page_answers(page, site_url):
    page.goto(site_url)
    hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
    internal = sorted({urldefrag(h).url for h in hrefs if h.startswith(site_url)})
    # The syllabus, the sidebar (every notebook), results, exercises, licence.
    assert len(internal) >= len(NOTEBOOKS) + 3, internal
    broken = [(url, status) for url in internal if (status := page.request.get(url).status) != 200]
    assert not broken, f"internal links that do not answer 200: {broken}"
    for url in hrefs:  # an anchor on this page must exist on it
        base, fragment = urldefrag(url)
        if fragment and base == site_url:
            assert page.locator(f"[id='{fragment}']").count() == 1, f"no #{fragment} on the page"


def test_a_syllabus_link_opens_the_notebook_with_its_rendered_plots(page, site_url):
    page.goto(site_url)
    page.locator("main table").get_by_role("link", name=PLOTTED).click()
    page.wait_for_load_state("load")
    assert page.url == f"{site_url}notebooks/{PLOTTED}.html"
    assert page.locator("main h1").first.inner_text().startswith(PLOTTED[:2])
    plots = page.locator("main .cell_output img")
    assert plots.count() >= 1, "the notebook page shows no plot"
    for i in range(plots.count()):
        plot = plots.nth(i)
        plot.scroll_into_view_if_needed()
        size = plot.evaluate("img => img.complete ? [img.naturalWidth, img.naturalHeight] : [0, 0]")
        assert min(size) >= 100, f"plot {i} of {PLOTTED} did not render: {size}"
        box = plot.bounding_box()
        assert box and box["width"] >= 200, f"plot {i} of {PLOTTED} is not shown: {box}"
    # A code cell and its printed output are there too, not only the pictures.
    assert page.locator("main .cell_input").count() >= 3
    plots.first.scroll_into_view_if_needed()
    _shot(page, f"{PLOTTED}.png")


def test_the_results_page_shows_the_recorded_numbers(page, site_url):
    page.goto(site_url + "results.html")
    tables = page.locator("main table")
    assert tables.count() == 2
    ratings = tables.nth(0).inner_text()
    assert "V2" in ratings and "test RMSE" in ratings
    assert "NDCG@10" in tables.nth(1).inner_text()
    notebook_link = tables.nth(0).locator("a").first
    notebook_link.click()
    page.wait_for_load_state("load")
    assert "/notebooks/" in page.url


def test_the_exercises_page_links_every_built_exercise_notebook(page, site_url):
    staged = sorted(p.stem for p in (SITE.parent / "src" / "exercises").glob("*.ipynb"))
    page.goto(site_url + "exercises/index.html")
    links = page.locator("main .toctree-wrapper a")
    hrefs = [links.nth(i).get_attribute("href") for i in range(links.count())]
    assert hrefs == [f"{stem}.html" for stem in staged]
    if staged:  # built by make exercises: the page shows the notebook as handed out
        links.first.click()
        page.wait_for_load_state("load")
        assert page.locator("main .cell_input").count() >= 1
        assert "grader.check" in page.locator("main").inner_text()


def test_no_page_is_wider_than_a_phone_screen(page, site_url):
    page.set_viewport_size(PHONE)
    pages = _site_pages()
    assert len(pages) >= 2 * len(NOTEBOOKS), f"the site has only {pages}"
    wider = {}
    for path in pages:
        page.goto(site_url + path)
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > PHONE["width"] + 1:  # a pixel of rounding
            wider[path] = width
    assert not wider, (
        f"pages wider than a {PHONE['width']} px screen, with their width in px: {wider}"
    )
    page.goto(site_url)  # the syllabus reflows, rather than scrolling inside its box
    boxes = page.eval_on_selector_all(
        "article table",
        "ts => ts.map(t => [t.parentElement.scrollWidth, t.parentElement.clientWidth])",
    )
    assert boxes and all(inner <= box for inner, box in boxes), f"the syllabus scrolls: {boxes}"
    for name, (path, at) in PHOTOGRAPHED.items():
        page.goto(site_url + path)
        _shot(page, f"{name}-{PHONE['width']}px.png", at)


def test_no_dataframe_hides_columns_behind_a_scroll_at_1280_px(page, site_url):
    page.set_viewport_size(LAPTOP)
    hidden = []
    for stem in NOTEBOOKS:
        page.goto(f"{site_url}notebooks/{stem}.html")
        for i, widths in enumerate(page.evaluate(DATAFRAME_WIDTHS)):
            if widths["table"] > widths["box"]:
                hidden.append(f"{stem} table {i} ({widths['columns']} columns): {widths}")
    assert not hidden, f"DataFrames wider than their box at {LAPTOP['width']} px: {hidden}"
    page.goto(f"{site_url}notebooks/{EXERCISED[0]}.html")
    widest = max(page.evaluate(DATAFRAME_WIDTHS), key=lambda widths: widths["table"])
    assert widest["table"] <= widest["box"]
    _shot(page, f"07-table-{LAPTOP['width']}px.png", "article div.cell.tag_full-width")
    for name, (path, at) in PHOTOGRAPHED.items():
        page.goto(site_url + path)
        _shot(page, f"{name}-{LAPTOP['width']}px.png", at)


@pytest.mark.parametrize("stem", EXERCISED)
def test_a_notebooks_exercise_link_opens_its_exercise_page(page, site_url, stem):
    page.goto(f"{site_url}notebooks/{stem}.html")
    article = page.locator("article")
    assert f"build/exercises/{stem}/student/" not in article.inner_text(), "the path was not linked"
    links = article.locator("a[href*='exercises/']")
    hrefs = {links.nth(i).get_attribute("href") for i in range(links.count())}
    assert f"../exercises/{stem}.html" in hrefs, f"{stem} links to {hrefs}, not to its exercise"
    for href in hrefs:
        assert page.request.get(urljoin(page.url, href)).status == 200, href
    article.get_by_role("link", name=f"Exercise {stem[:2]}").first.click()
    page.wait_for_load_state("load")
    assert page.url == f"{site_url}exercises/{stem}.html"
    assert page.locator("article h1").first.inner_text().startswith(f"Exercise {stem[:2]}")


def test_exercise_pages_show_the_title_above_otters_set_up_cell(page, site_url):
    staged = sorted(p.stem for p in (SITE.parent / "src" / "exercises").glob("*.ipynb"))
    assert staged, "no exercise notebook was built: run make exercises"
    for stem in staged:
        page.goto(f"{site_url}exercises/{stem}.html")
        first = page.locator("article h1, article div.cell").first
        assert first.evaluate("e => e.tagName") == "H1", f"exercises/{stem}.html starts with a cell"
        assert "Initialize Otter" in page.locator("article div.cell").first.inner_text()


def test_the_references_page_has_every_entry_and_the_citations_reach_it(page, site_url):
    page.goto(site_url)
    assert page.locator("article a[href='references.html']").count() >= 1
    page.goto(site_url + "references.html")
    anchors = _reference_anchors()
    assert len(anchors) >= 12, anchors
    for anchor in anchors:
        entry = page.locator(f"section[id='{anchor}']")
        assert entry.count() == 1, f"references.html has no #{anchor}"
        links = entry.locator("a.reference.external")
        hrefs = [links.nth(i).get_attribute("href") for i in range(links.count())]
        assert any(h.startswith("https://") for h in hrefs), f"#{anchor} links nowhere: {hrefs}"
    cited = set()
    for stem in NOTEBOOKS:
        page.goto(f"{site_url}notebooks/{stem}.html")
        hrefs = page.eval_on_selector_all(
            "article a[href*='references.html']", "es => es.map(e => e.href)"
        )
        cited |= {(stem, urldefrag(href).fragment) for href in hrefs}
    missing = sorted((stem, anchor) for stem, anchor in cited if anchor and anchor not in anchors)
    assert not missing, f"citations to anchors that references.html does not have: {missing}"


def test_the_pages_need_no_host_but_their_own_and_mathjax(browser):
    _, refused = browser
    # MathJax comes from its CDN (sphinx's default); pages render without it. Any
    # other outside request (fonts, trackers, a theme's script) is new: review it.
    others = sorted({u for u in refused if urlparse(u).hostname not in MATHJAX_HOSTS})
    assert not others, f"the pages asked for hosts beyond localhost: {others}"
