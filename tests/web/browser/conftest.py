"""The page in a real headless Chromium (Debian's, never `playwright install`),
driven by playwright, against the whole system as processes."""
import pytest
from playwright.sync_api import expect, sync_playwright

from tests.e2e.conftest import Stack

# every test signs up a user from one address: more than the default
# per-address limit on register/login allows in a minute
RELAXED_AUTH_LIMITS = {"AUTH_RATE_LIMIT": "1000 per minute",
                       "LOGIN_RATE_LIMIT_PER_USER": "1000 per minute"}
# argon2 hashing on a busy two-core machine takes seconds
expect.set_options(timeout=30000)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
# Chromium logs every 4xx/5xx answer as a console error ("Failed to load
# resource"). The API's are answers the page handles (a 422 shown next to its
# field, a 401 for a wrong password, a 404 from a gateway without live events
# before the page polls); anything else failing to load is an error.
API_PATH = "/api/v1/"


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    """The system as processes (as tests/e2e starts it), one for every browser test."""
    running = Stack(tmp_path_factory.mktemp("stack"), env=RELAXED_AUTH_LIMITS).start()
    yield running
    running.stop()


@pytest.fixture(scope="session")
def browser():
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Watched:
    """A page whose requests, errors and console are recorded, with a
    screenshot helper writing into the test's output folder."""

    def __init__(self, page, origin, folder):
        self.page, self.origin, self.folder = page, origin, folder
        self.foreign, self.errors = [], []
        page.on("request", self._request)
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        page.on("console", self._console)
        self.event_streams = []  # (status, content type) of each GET /jobs/<id>/events
        page.on("response", self._response)
        self.shots = 0

    def _request(self, request):
        if not (request.url.startswith(self.origin + "/") or request.url == self.origin
                or request.url.startswith(("blob:", "data:"))):
            self.foreign.append(request.url)

    def _response(self, response):
        if response.url.endswith("/events"):
            self.event_streams.append((response.status, response.headers.get("content-type", "")))

    def _console(self, message):
        if message.type != "error":
            return
        url = (message.location or {}).get("url", "")
        if "Failed to load resource" in message.text and url.startswith(self.origin + API_PATH):
            return
        self.errors.append(f"console: {message.text} ({url})")

    def shot(self, name):
        self.shots += 1
        path = self.folder / f"{self.shots:02d}-{name}.png"
        # transitions fast-forwarded: a progress bar at 100 is drawn full, not mid-way
        self.page.screenshot(path=path, full_page=True, animations="disabled")
        return path

    def check(self):
        assert not self.foreign, f"requests left the origin: {self.foreign}"
        assert not self.errors, f"JavaScript errors: {self.errors}"


@pytest.fixture
def watched(browser, stack, tmp_path, request):
    # a module sets BYPASS_CSP to inject a script of its own (axe-core)
    context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900},
                                  bypass_csp=getattr(request.module, "BYPASS_CSP", False))
    page = context.new_page()
    page.set_default_timeout(20000)
    folder = tmp_path / "screenshots"
    folder.mkdir()
    watch = Watched(page, stack.url, folder)
    page.goto(stack.url + "/")
    yield watch
    watch.check()
    context.close()
