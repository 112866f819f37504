"""Smoke test of the browser harness: Chromium reaches the live server, and a rep signs in."""

from __future__ import annotations

import pytest

from tests.pwa.conftest import PhoneFactory, sign_in, watch_console

pytestmark = pytest.mark.browser


def test_sign_in_page_loads_clean_and_a_rep_signs_in(phone: PhoneFactory, live_server: str) -> None:
    _, page = phone()
    problems = watch_console(page)

    page.goto("/")
    page.wait_for_load_state("load")
    assert page.get_by_role("button", name="Sign in").is_visible()
    assert problems == [], "the sign-in page logged errors or broke its policy"

    sign_in(page, live_server, "rep@fieldbook.test")
    assert page.url == f"{live_server}/"
    assert page.get_by_label("Password").count() == 0, "the sign-in form is still showing"
    me = page.request.get("/api/v1/auth/me")
    assert me.ok, me.status
    assert me.json()["email"] == "rep@fieldbook.test"


def test_console_watch_catches_a_policy_violation(phone: PhoneFactory) -> None:
    # The clean-page assertion above is only worth something if a violation would be seen.
    _, page = phone()
    problems = watch_console(page)
    page.goto("/")
    page.evaluate("""() => {
        const script = document.createElement("script");
        script.textContent = "window.inlineRan = true";
        document.head.append(script);
    }""")
    page.wait_for_timeout(100)
    assert page.evaluate("window.inlineRan") is None
    assert any("Content Security Policy" in problem for problem in problems), problems
