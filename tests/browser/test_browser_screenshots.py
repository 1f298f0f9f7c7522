"""Screenshots of every page, in both themes, at a desktop and a phone width.

They land in artifacts/screenshots/ (git-ignored; CI keeps the folder) as
`<page>-<theme>-<width>.png`, for people to look at: the test checks that each page answers
and that each screenshot was written. Adding a page here is one line.
"""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from tests.browser.browsing import CALLER, SCREENSHOTS, log_in

pytestmark = pytest.mark.browser

THEMES = ("light", "dark")
WIDTHS = {1440: 900, 390: 844}  # width: height (a desktop, a phone)

# (file name, URL name, arguments from the `synced` calls). The login page is taken
# logged out; every other page logged in as an operator.
PAGES = [
    ("calls", "calls:list", None),
    ("call-detail", "calls:detail", lambda synced: [synced["active"]]),
    ("number", "calls:number", lambda synced: [CALLER]),
    ("place-call", "calls:place", None),
    ("audit", "calls:audit", None),
    ("sync", "calls:sync", None),
    ("overview", "calls:overview", None),
    ("recordings", "recordings:list", None),
    ("alerts", "alerts:rules", None),
    ("saved-views", "alerts:views", None),
    ("login", "login", None),
]


def _paths(synced) -> list[tuple[str, str]]:
    return [
        (name, reverse(url_name, args=args(synced) if args else None))
        for name, url_name, args in PAGES
    ]


@pytest.mark.parametrize("width", list(WIDTHS))
def test_screenshots_of_every_page(new_context, operator, synced, width):
    paths = _paths(synced)
    written = []
    for theme in THEMES:
        # The theme as a user picks it (theme.js reads it before the first paint).
        context = new_context()
        context.add_init_script(f"localStorage.setItem('theme', '{theme}')")
        page = context.new_page()
        page.set_viewport_size({"width": width, "height": WIDTHS[width]})
        log_in(page, operator)
        for name, path in paths:
            if name == "login":
                continue
            response = page.goto(path)
            assert response.status == 200, f"{path}: {response.status}"
            page.wait_for_load_state("networkidle")
            expect(page.locator("html")).to_have_attribute("data-theme", theme)
            written.append(_shoot(page, name, theme, width))
        anonymous = new_context()
        anonymous.add_init_script(f"localStorage.setItem('theme', '{theme}')")
        login = anonymous.new_page()
        login.set_viewport_size({"width": width, "height": WIDTHS[width]})
        login.goto(reverse("login"))
        written.append(_shoot(login, "login", theme, width))
        context.close()
        anonymous.close()
    assert len(written) == len(paths) * len(THEMES)
    for path in written:
        assert path.exists() and path.stat().st_size > 1000, path


def _shoot(page, name: str, theme: str, width: int):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}-{theme}-{width}.png"
    path.unlink(missing_ok=True)  # a stale file from an earlier run must not pass for this one
    page.screenshot(path=path, full_page=True)
    return path
