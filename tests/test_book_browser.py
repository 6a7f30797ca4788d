"""The rendered book in a real browser: headless Chromium (Debian's ``chromium`` + ``chromium-driver``) via Selenium.

Every page of the site `make test` builds (the ``smoke_book`` fixture; or an existing site: set ``BRAINFM_BOOK_HTML``
to its ``html`` folder) must load without console errors and read cleanly: every image loaded, no raw Markdown
table or math left in the text, no traceback, error or warning in an output, no unresolved citation or
cross-reference, no line of code or output wider than its box. The search page must find "perfusion".
Screenshots of every page go to ``_build/screenshots/``.

The site is tested offline: a local HTTP server serves it and, in place of the MathJax 3 the pages load from a CDN,
Debian's MathJax 2 (``libjs-mathjax``); the built HTML is not changed. Without chromium, its driver or MathJax the
tests are skipped, unless the ``CI`` environment variable is set (then they fail).
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import threading
from pathlib import Path

import pytest

from brainfm_lite.book_runner import toc_files

ROOT = Path(__file__).resolve().parents[1]
PAGES = toc_files(ROOT)  # e.g. "book/intro", "book/01_data"
SCREENSHOTS = ROOT / "_build" / "screenshots"
MATHJAX_DIR = Path("/usr/share/javascript/mathjax")  # Debian's libjs-mathjax (MathJax 2.7)
MATHJAX_CDN = re.compile(r"https://cdn\.jsdelivr\.net/npm/mathjax@3/[^\"']*\.js")
MATHJAX_LOCAL = "/_mathjax/MathJax.js?config=TeX-AMS_CHTML"
# MathJax 2 reads its own settings: the pages' content is in `tex2jax_ignore` blocks and only elements of class
# `math` (as the pages' MathJax 3 `processHtmlClass` says) are typeset.
MATHJAX2_CONFIG = ('<script type="text/x-mathjax-config">MathJax.Hub.Config({tex2jax: {'
                   'processClass: "tex2jax_process|mathjax_process|math|output_area", '
                   'ignoreClass: "tex2jax_ignore|mathjax_ignore"}});</script>')
DESKTOP = (1440, 900)
PHONE = (390, 844)

pytestmark = pytest.mark.book


def _missing_tools() -> list[str]:
    """What this machine lacks to run the browser tests (empty when all is there)."""
    missing = [name for name in ("chromium", "chromedriver") if shutil.which(name) is None]
    if not (MATHJAX_DIR / "MathJax.js").is_file():
        missing.append("libjs-mathjax")
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium (pip)")
    return missing


@pytest.fixture(scope="module")
def site(request) -> Path:
    """The folder of the HTML site under test: ``BRAINFM_BOOK_HTML`` or the one the smoke book build writes."""
    missing = _missing_tools()
    if missing:
        message = (f"browser test needs {', '.join(missing)}: apt-get install chromium chromium-driver libjs-mathjax; "
                   "pip install selenium")
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    if os.environ.get("BRAINFM_BOOK_HTML"):
        return Path(os.environ["BRAINFM_BOOK_HTML"]).resolve()
    run, build, _ = request.getfixturevalue("smoke_book")
    assert run.html is not None, "the book did not render"
    return run.html


class _SiteHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the site; HTML pages get the local MathJax instead of the CDN one, ``/_mathjax/`` serves it."""

    def translate_path(self, path: str) -> str:
        if path.startswith("/_mathjax/"):
            return str(MATHJAX_DIR / path.split("?")[0][len("/_mathjax/"):])
        return super().translate_path(path)

    def send_head(self):
        if self.path == "/favicon.ico" and not Path(self.translate_path(self.path)).is_file():
            # The browser asks for it on its own; the site has none, which is no fault of a page.
            self.send_response(204)
            self.end_headers()
            return None
        path = Path(self.translate_path(self.path))
        if path.suffix != ".html" or not path.is_file():
            return super().send_head()
        html = path.read_text(encoding="utf-8")
        if MATHJAX_CDN.search(html):
            html = MATHJAX_CDN.sub(MATHJAX_LOCAL, html).replace("</head>", MATHJAX2_CONFIG + "</head>", 1)
        body = html.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        return _Body(body)

    def log_message(self, *args) -> None:  # keep the test output quiet
        pass


class _Body:
    """The minimal file-like object `SimpleHTTPRequestHandler` copies a response body from."""

    def __init__(self, data: bytes):
        self.data = data

    def read(self, *_) -> bytes:
        data, self.data = self.data, b""
        return data

    def close(self) -> None:
        pass


@pytest.fixture(scope="module")
def base_url(site):
    """A local HTTP server for the site (a free port on 127.0.0.1), for the module's tests."""
    handler = functools.partial(_SiteHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser(site):
    """Headless Chromium at desktop size, its console log readable."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 f"--window-size={DESKTOP[0]},{DESKTOP[1]}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver")))
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(60)
    yield driver
    driver.quit()


# Runs in the page: waits for MathJax (2 or 3) to finish typesetting; true when it did, false when it never loaded.
WAIT_FOR_MATHJAX = """
const done = arguments[arguments.length - 1];
function poll(tries) {
  const mj = window.MathJax;
  if (mj && mj.Hub && mj.Hub.Register) { mj.Hub.Register.StartupHook('End', () => done(true)); return; }
  if (mj && mj.startup && mj.startup.promise) { mj.startup.promise.then(() => done(true)); return; }
  if (tries > 100) { done(false); return; }
  setTimeout(() => poll(tries + 1), 100);
}
poll(0);
"""

# Runs in the page: everything the checks need, as plain data.
READ_PAGE = """
const main = document.querySelector('main') || document.body;
const prose = main.cloneNode(true);  // the page's text without code inputs, scripts and typeset math
prose.querySelectorAll('.cell_input, script, style, .MathJax, .MathJax_Display, .MathJax_CHTML, mjx-container')
     .forEach(e => e.remove());
const outputs = [...main.querySelectorAll('.cell_output')]
  .filter(e => !e.closest('.tag_expected-error'))
  .map(e => e.innerText);
const unresolved = [];
main.querySelectorAll('.xref').forEach(e => { if (!e.closest('a')) unresolved.push(e.textContent.trim()); });
main.querySelectorAll('.bibtex-citation').forEach(e => {
  if (!e.querySelector('a')) unresolved.push('citation ' + e.textContent.trim());
});
main.querySelectorAll('a.reference.internal[href^="#"]').forEach(a => {
  const id = decodeURIComponent(a.getAttribute('href').slice(1));
  if (id && !document.getElementById(id)) unresolved.push('#' + id);
});
return {
  text: prose.textContent,
  outputs: outputs,
  error_outputs: main.querySelectorAll('.output.traceback, .output.stderr, .output.error').length,
  broken_images: [...document.images].filter(i => !(i.complete && i.naturalWidth > 0))
                                     .map(i => i.getAttribute('src')),
  n_images: document.images.length,
  wide_lines: [...main.querySelectorAll('pre')].filter(p => p.scrollWidth > p.clientWidth + 1)
                .map(p => `${p.scrollWidth - p.clientWidth}px: ` +
                          p.innerText.split('\\n').reduce((a, b) => (b.length > a.length ? b : a), '').slice(0, 120)),
  unresolved: unresolved,
  has_math: main.querySelector('.math') !== null,
};
"""

# A Markdown table's rule row left as text: |---| (Sphinx's smart quotes turn --- into an em dash).
RAW_TABLE = re.compile(r"\|(?:\s*:?(?:-{3,}|[\u2013\u2014]{1,2}):?\s*\|)+")
RAW_MATH = re.compile(r"\$\$|\\\[|\\\]|\\\(|\\\)")
BAD_OUTPUT = re.compile(r"Traceback \(most recent call last\)|\b[A-Z]\w*(?:Error|Warning)\b|^\s*(?i:warning):", re.M)


def _console_errors(driver) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def _screenshot(driver, name: str) -> None:
    """The whole page (not only the window) as a PNG in _build/screenshots/."""
    import base64

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
    (SCREENSHOTS / f"{name}.png").write_bytes(base64.b64decode(shot["data"]))


def load(driver, url: str) -> None:
    """Open `url` and wait until its document has loaded.

    ``driver.get`` can return while the new document is still ``loading`` (seen after a page whose MathJax was
    still typesetting): a check run then reads a half-parsed page, e.g. a navigation with no links yet.
    """
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    WebDriverWait(driver, 60).until(lambda d: d.execute_script(
        "return document.readyState === 'complete' && location.href === arguments[0];", url))


def page_problems(driver, url: str) -> dict[str, list]:
    """Load `url` and return what is wrong with it, one list per check (all empty for a clean page)."""
    _console_errors(driver)  # drop messages of the page before
    load(driver, url)
    info = driver.execute_script(READ_PAGE)
    math_ok = driver.execute_async_script(WAIT_FOR_MATHJAX) if info["has_math"] else True
    info = driver.execute_script(READ_PAGE) if info["has_math"] else info  # re-read after typesetting
    return {
        "console errors": _console_errors(driver),
        "images not loaded": info["broken_images"],
        "raw Markdown tables": RAW_TABLE.findall(info["text"]),
        "raw math": ([] if math_ok else ["MathJax did not load"]) + RAW_MATH.findall(info["text"]),
        "outputs with a traceback, error or warning":
            [m.group(0) for out in info["outputs"] for m in BAD_OUTPUT.finditer(out)]
            + ([f"{info['error_outputs']} error/stderr outputs"] if info["error_outputs"] else []),
        "unresolved references": info["unresolved"],
        "lines wider than their box": info["wide_lines"],
    }


@pytest.mark.parametrize("page", PAGES)
def test_page_reads_cleanly_in_a_browser(browser, base_url, page):
    problems = page_problems(browser, f"{base_url}/{page}.html")
    _screenshot(browser, Path(page).name)
    found = {check: items for check, items in problems.items() if items}
    assert not found, "\n".join(f"{check} ({len(items)}): {items[:5]}" for check, items in found.items())


def test_landing_page_lists_every_chapter_and_fits_a_phone(browser, base_url):
    load(browser, f"{base_url}/{PAGES[0]}.html")
    links = browser.execute_script(
        "return [...document.querySelectorAll('nav.bd-docs-nav a.reference.internal')]"
        ".map(a => new URL(a.href).pathname);")
    listed = {re.sub(r"\.html$", "", path.lstrip("/")) for path in links}
    assert set(PAGES[1:]) <= listed, f"navigation lacks {sorted(set(PAGES[1:]) - listed)}"
    browser.set_window_size(*PHONE)
    try:
        load(browser, f"{base_url}/{PAGES[0]}.html")
        _screenshot(browser, f"{Path(PAGES[0]).name}-phone")
        overflow = browser.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth;")
    finally:
        browser.set_window_size(*DESKTOP)
    assert overflow <= 1, f"the landing page is {overflow}px wider than a phone screen"


def test_search_finds_perfusion(browser, base_url):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    load(browser, f"{base_url}/search.html?q=perfusion")
    WebDriverWait(browser, 30).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "#search-results ul.search li")
        or "did not match" in d.find_element(By.ID, "search-results").text)
    hits = [li.text for li in browser.find_elements(By.CSS_SELECTOR, "#search-results ul.search li")]
    _screenshot(browser, "search-perfusion")
    assert hits, "search for 'perfusion' found nothing"
