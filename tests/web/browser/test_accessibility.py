"""axe-core (vendored under tests/web/vendor) on the main screens: no serious
or critical violation."""
import os

from playwright.sync_api import expect

from tests.web.browser.test_page import PHOTOS, convert, sign_up

BYPASS_CSP = True  # axe is injected as an inline script; the page's CSP would refuse it
AXE = os.path.join(os.path.dirname(os.path.dirname(__file__)), "vendor", "axe.min.js")


def violations(page):
    page.add_script_tag(path=AXE)
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
            for v in result["violations"] if v["impact"] in ("serious", "critical")]


def test_no_serious_violation_on_the_main_screens(watched):
    page = watched.page
    assert violations(page) == [], "sign-in screen"
    sign_up(page, "axe")
    convert(page, PHOTOS[:2])
    bars = page.get_by_role("progressbar")
    expect(bars).to_have_count(2)
    for index in range(2):
        expect(bars.nth(index)).to_have_attribute("aria-valuenow", "100", timeout=90000)
    page.locator("details summary").click()  # the advanced options open
    assert violations(page) == [], "converter, finished job, history, advanced options"
    watched.shot("axe-main")
    page.set_viewport_size({"width": 390, "height": 844})
    assert violations(page) == [], "phone width"


def test_the_api_page_is_local_and_renders(watched, stack):
    page = watched.page
    page.goto(stack.url + "/api/docs")
    expect(page.get_by_text("Convertix API").first).to_be_visible()
    expect(page.get_by_text("/api/v1/jobs/{job_id}/archive").first).to_be_visible()
    watched.shot("api-docs")
