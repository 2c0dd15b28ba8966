"""The built website, opened in a real browser (``make site-test``, part of ``make test``).

Serves ``build/book/html`` on localhost, opens it in headless Chromium (Debian's
``chromium`` here, the runner's Chrome in the workflow; ``CHROME_BIN`` picks
another) driven by Playwright, and checks what a reader needs: the landing
page's syllabus links to every notebook, every internal link on it answers, a
notebook page shows its rendered plots, and the results page has the numbers.
Screenshots go to ``build/book/screenshots/``. The browser gets a fresh profile
and no network beyond localhost: any other request is refused and reported.

Not in ``tests/``: it needs the built site and a browser, and ``make unit`` stays fast.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
from pathlib import Path
from urllib.parse import urldefrag, urlparse

import pytest
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "build" / "book" / "html"
SHOTS = ROOT / "build" / "book" / "screenshots"
NOTEBOOKS = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
#: The notebook page whose plots are checked and photographed (loss curves).
PLOTTED = "02_dot_product_v1"
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


def _shot(page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / name
    page.screenshot(path=str(path))
    return path


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


def test_the_pages_need_no_host_but_their_own_and_mathjax(browser):
    _, refused = browser
    # MathJax comes from its CDN (sphinx's default); pages render without it. Any
    # other outside request (fonts, trackers, a theme's script) is new: review it.
    others = sorted({u for u in refused if urlparse(u).hostname not in MATHJAX_HOSTS})
    assert not others, f"the pages asked for hosts beyond localhost: {others}"
