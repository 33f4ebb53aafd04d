"""tests/web: the OpenAPI document, and (in browser/) the page in Chromium.

Playwright's driver runs on asyncio, which hangs under eventlet's monkey
patch (what `nameko test` applies). So under `nameko test` the browser
tests are not collected here: test_browser.py runs them in a child pytest
without the patch, and fails with their output when they fail.
"""
import eventlet.patcher

PATCHED = eventlet.patcher.is_monkey_patched("socket")

collect_ignore = ["browser"] if PATCHED else []
