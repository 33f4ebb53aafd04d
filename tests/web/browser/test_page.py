"""The web page, step by step as a person uses it."""
import base64
import io
import json
import time
import zipfile

from PIL import Image
from playwright.sync_api import expect

from tests.helpers import corpus_path

PHOTOS = ["photos/skimage/astronaut.png", "photos/skimage/coffee.png",
          "photos/skimage/chelsea.png"]  # each at least 400 px wide
CORRUPT = "bad/truncated/truncated_image.png"  # a PNG cut short: CORRUPT_IMAGE
JOB_TIMEOUT_MS = 90000


def sign_up(page, name):
    page.get_by_label("Username").fill(f"{name}-{time.time_ns()}")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def convert(page, files, fmt="webp", width="400"):
    page.locator("input[type=file]").set_input_files([corpus_path(f) for f in files])
    page.get_by_label("Format").select_option(fmt)
    page.get_by_label("Width").fill(width)
    page.get_by_role("button", name="Convert").click()


def no_horizontal_scroll(page):
    widths = page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert widths[0] <= widths[1], f"the page scrolls sideways: {widths}"


def test_three_photos_to_webp_then_download_all_and_history(watched):
    page = watched.page
    watched.shot("signed-out")
    sign_up(page, "web")
    watched.shot("signed-in")

    page.locator("input[type=file]").set_input_files([corpus_path(f) for f in PHOTOS])
    expect(page.get_by_role("list", name="Files to convert").get_by_role("listitem")).to_have_count(3)
    page.get_by_label("Format").select_option("webp")
    page.get_by_label("Width").fill("400")
    watched.shot("files-picked")
    page.get_by_role("button", name="Convert").click()

    bars = page.get_by_role("progressbar")
    expect(bars).to_have_count(3)
    for index in range(3):
        expect(bars.nth(index)).to_have_attribute("aria-valuenow", "100", timeout=JOB_TIMEOUT_MS)
    expect(page.get_by_text("job succeeded")).to_be_visible()
    watched.shot("converted")
    # progress came from the live events (fetch() with the Bearer token), not polling
    assert any(status == 200 and kind.startswith("text/event-stream")
               for status, kind in watched.event_streams), watched.event_streams

    with page.expect_download() as download:
        page.get_by_role("button", name="Download all").click()
    archive = zipfile.ZipFile(io.BytesIO(open(download.value.path(), "rb").read()))
    names = archive.namelist()
    assert len(names) == 3, names
    for name in names:
        with Image.open(io.BytesIO(archive.read(name))) as image:
            assert image.format == "WEBP" and image.width == 400, (name, image.format, image.size)

    page.reload()  # still signed in; the history shows the job
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    history = page.locator("#jobs li")
    expect(history).to_have_count(1)
    expect(history.first).to_contain_text("astronaut.png")
    expect(history.first).to_contain_text("succeeded")
    watched.shot("history-after-reload")

    page.set_viewport_size({"width": 390, "height": 844})
    no_horizontal_scroll(page)
    watched.shot("phone-390")


def test_the_history_shows_ten_jobs_a_page_newest_first(watched, stack):
    page = watched.page
    sign_up(page, "pages")
    token = page.evaluate("JSON.parse(localStorage.getItem('convertix.session')).access")
    with open(corpus_path(PHOTOS[0]), "rb") as handle:
        image = handle.read()
    for n in range(11):  # through the API, as another client of the same user would
        answer = page.request.post(stack.url + "/api/v1/jobs", headers={
            "Authorization": "Bearer " + token}, multipart={
            "options": json.dumps({"format": "png", "width": 8}),
            "file": {"name": f"page-{n}.png", "mimeType": "image/png", "buffer": image}})
        assert answer.status == 202, answer.text()
    page.reload()
    history = page.locator("#jobs li")
    expect(history).to_have_count(10)
    expect(history.first).to_contain_text("page-10.png")
    expect(page.get_by_role("button", name="Newer jobs")).to_be_disabled()
    page.get_by_role("button", name="Older jobs").click()
    expect(history).to_have_count(1)
    expect(history.first).to_contain_text("page-0.png")
    expect(page.get_by_role("button", name="Older jobs")).to_be_disabled()
    page.get_by_role("button", name="Newer jobs").click()
    expect(history).to_have_count(10)
    expect(history.first).to_contain_text("page-10.png")


DROP = """async ([encoded, name]) => {
  const bytes = Uint8Array.from(atob(encoded), (c) => c.charCodeAt(0));
  const files = new DataTransfer();
  files.items.add(new File([bytes], name, { type: "image/png" }));
  files.items.add(new File(["not an image"], "notes.txt", { type: "text/plain" }));
  const zone = document.getElementById("drop");
  const drag = (type) => zone.dispatchEvent(
    new DragEvent(type, { dataTransfer: files, bubbles: true, cancelable: true }));
  drag("dragover");
  const over = zone.classList.contains("over");
  drag("drop");
  return { over, after: zone.classList.contains("over") };
}"""
# Every text the upload status takes, as it changes (it is cleared once the upload ends).
WATCH_STATUS = """() => {
  window.statusTexts = [];
  const status = document.getElementById("upload-status");
  new MutationObserver(() => window.statusTexts.push(status.textContent))
    .observe(status, { childList: true, characterData: true, subtree: true });
}"""
LOADED_WIDTH = "(image) => image.complete && image.naturalWidth"


def test_dropped_files_show_a_preview_then_the_upload_progress_then_the_result(watched):
    page = watched.page
    sign_up(page, "drop")
    with open(corpus_path(PHOTOS[0]), "rb") as handle:
        encoded = base64.b64encode(handle.read()).decode()
    zone = page.evaluate(DROP, [encoded, "astronaut.png"])
    assert zone == {"over": True, "after": False}  # highlighted while dragged over
    picked = page.get_by_role("list", name="Files to convert").get_by_role("listitem")
    expect(picked).to_have_count(1)  # the image; the text file refused by name
    expect(picked.first).to_contain_text("astronaut.png")
    expect(page.locator("#err-file")).to_contain_text("notes.txt")
    preview = picked.first.locator("img")
    page.wait_for_function(LOADED_WIDTH, arg=preview.element_handle())
    assert preview.evaluate("(image) => image.naturalWidth") == 512  # the picked image itself
    watched.shot("dropped")

    page.evaluate(WATCH_STATUS)
    page.get_by_label("Format").select_option("webp")
    page.get_by_label("Width").fill("400")
    page.get_by_role("button", name="Convert").click()
    expect(page.get_by_role("progressbar")).to_have_attribute(
        "aria-valuenow", "100", timeout=JOB_TIMEOUT_MS)
    texts = page.evaluate("window.statusTexts")
    percents = [int(t.removeprefix("Uploading… ").removesuffix(" %")) for t in texts
                if t.startswith("Uploading… ")]
    assert percents and percents == sorted(percents) and percents[-1] == 100, texts
    assert texts[-1] == "", texts  # cleared once the job was accepted

    result = page.get_by_role("img", name="Result: astronaut.webp")
    expect(result).to_be_visible()
    page.wait_for_function(LOADED_WIDTH, arg=result.element_handle())
    # the thumbnail is the converted file: 400 px wide, shown at 64
    assert result.evaluate("(image) => [image.naturalWidth, image.naturalHeight]") == [400, 400]
    watched.shot("dropped-converted")


def test_a_corrupt_file_says_why_in_words(watched):
    page = watched.page
    sign_up(page, "corrupt")
    convert(page, [CORRUPT, PHOTOS[1]])
    bars = page.get_by_role("progressbar")
    expect(bars).to_have_count(2)
    for index in range(2):
        expect(bars.nth(index)).to_have_attribute("aria-valuenow", "100", timeout=JOB_TIMEOUT_MS)
    failed = page.locator("#tasks li", has_text="truncated_image.png")
    expect(failed).to_contain_text("damaged or incomplete")
    expect(page.get_by_text("job partial")).to_be_visible()
    page.set_viewport_size({"width": 390, "height": 844})
    no_horizontal_scroll(page)
    watched.shot("corrupt-file")


def test_bad_options_are_explained_next_to_the_field(watched):
    page = watched.page
    sign_up(page, "options")
    convert(page, [PHOTOS[0]], width="0")
    expect(page.locator("#err-width")).to_contain_text("width must be between 1")
    expect(page.get_by_label("Width")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_role("progressbar")).to_have_count(0)
    watched.shot("invalid-width")


def test_a_preset_fills_the_options_and_the_result_says_its_size(watched):
    page = watched.page
    sign_up(page, "preset")
    page.get_by_label("Preset").select_option("Web thumbnail")
    expect(page.get_by_label("Format")).to_have_value("webp")
    expect(page.get_by_label("Width")).to_have_value("320")
    expect(page.get_by_label("Height")).to_have_value("320")
    expect(page.get_by_label("Quality")).to_have_value("75")
    expect(page.get_by_label("Fit")).to_have_value("cover")
    page.locator("input[type=file]").set_input_files([corpus_path(PHOTOS[1])])
    page.get_by_role("button", name="Convert").click()
    expect(page.get_by_role("progressbar")).to_have_attribute(
        "aria-valuenow", "100", timeout=JOB_TIMEOUT_MS)
    # cover: exactly the box; the row says the format and the dimensions
    expect(page.get_by_text("Done: WEBP, 320 × 320 px")).to_be_visible()


def test_unreadable_files_are_refused_at_once_by_name(watched, tmp_path):
    page = watched.page
    sign_up(page, "refuse")
    notes = tmp_path / "notes.txt"
    notes.write_text("not an image")
    page.locator("input[type=file]").set_input_files([str(notes), corpus_path(PHOTOS[0])])
    expect(page.locator("#err-file")).to_contain_text("notes.txt")
    expect(page.get_by_role("list", name="Files to convert").get_by_role("listitem")).to_have_count(1)


def test_sign_in_errors_in_words_and_sign_out_revokes(watched, stack):
    page = watched.page
    page.get_by_label("Username").fill("nobody-here")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert").filter(has_text="Wrong username or password")).to_be_visible()

    sign_up(page, "leaver")
    session = page.evaluate("JSON.parse(localStorage.getItem('convertix.session'))")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    assert page.evaluate("localStorage.getItem('convertix.session')") is None
    # both tokens are revoked: the access token, and the refresh token that
    # could have minted a new one
    answer = page.request.get(stack.url + "/api/v1/auth/me",
                              headers={"Authorization": "Bearer " + session["access"]})
    assert answer.status == 401 and answer.json()["error"]["code"] == "TOKEN_REVOKED"
    answer = page.request.post(stack.url + "/api/v1/auth/refresh",
                               headers={"Authorization": "Bearer " + session["refresh"]})
    assert answer.status == 401 and answer.json()["error"]["code"] == "TOKEN_REVOKED"


def test_the_token_is_refreshed_before_it_expires(watched):
    page = watched.page
    sign_up(page, "refresh")
    before = page.evaluate("JSON.parse(localStorage.getItem('convertix.session'))")
    # pretend the token is about to expire: the page refreshes it on load
    page.evaluate("""() => { const s = JSON.parse(localStorage.getItem('convertix.session'));
        s.expiresAt = Date.now() + 1000; localStorage.setItem('convertix.session', JSON.stringify(s)); }""")
    page.reload()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    page.wait_for_function(
        "old => JSON.parse(localStorage.getItem('convertix.session')).access !== old",
        arg=before["access"])
    after = page.evaluate("JSON.parse(localStorage.getItem('convertix.session'))")
    assert after["expiresAt"] > before["expiresAt"] - 60000
    assert after["refresh"] == before["refresh"]


def test_keyboard_alone_signs_in_with_a_visible_focus(watched):
    page = watched.page
    # the sign-in form is shown once the page has loaded the formats: a key
    # pressed before that lands on a hidden form, for a person as for a test
    expect(page.locator("#username")).to_be_visible()
    page.keyboard.press("Tab")  # the skip link
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "username"
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"
    page.keyboard.type(f"keys-{time.time_ns()}")
    page.keyboard.press("Tab")
    page.keyboard.type("correct horse battery")
    page.keyboard.press("Tab")  # Sign in
    page.keyboard.press("Tab")  # Sign up
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def test_progress_falls_back_to_polling_where_there_are_no_live_events(watched):
    page = watched.page
    # a gateway without the events endpoint answers 404 there
    page.route("**/api/v1/jobs/*/events", lambda route: route.fulfill(status=404, json={
        "error": {"code": "NOT_FOUND", "message": "not found", "details": {}}}))
    sign_up(page, "polling")
    convert(page, PHOTOS[:1], width="100")
    expect(page.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "100",
                                                             timeout=JOB_TIMEOUT_MS)
    expect(page.get_by_text("job succeeded")).to_be_visible()
