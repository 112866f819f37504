"""Every screen against WCAG 2.2 AA: axe-core's rules, 24 px targets, reflow at 320 px, visible and unobscured focus.

axe-core comes from the npm registry (`npm ci`, which `make test` and `make test-browser` run);
it lives in node_modules only and is injected into the page by the test, never served by the app.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from tests.pwa.conftest import ACTION_TIMEOUT_MS, PHONE, sign_in
from tests.pwa.helpers import wait_synced

pytestmark = pytest.mark.browser

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
#: WCAG 2.0, 2.1 and 2.2 at levels A and AA: the success criteria the app must meet.
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
#: axe files headings order and landmarks under best practice, not under a WCAG tag; they are what
#: 1.3.1 (Info and Relationships) and 2.4.1 (Bypass Blocks) ask of this app, so they run too.
STRUCTURE_RULES = [
    "heading-order",
    "page-has-heading-one",
    "empty-heading",
    "region",
    "landmark-one-main",
    "landmark-unique",
    "landmark-no-duplicate-banner",
    "landmark-banner-is-top-level",
    "landmark-main-is-top-level",
    "skip-link",
]
MANAGER = "manager@fieldbook.test"
#: The narrowest width WCAG 1.4.10 asks to work without scrolling sideways: 1280 px at 400 %, or a 640 px phone at 200 %.
REFLOW_WIDTH = 320
#: WCAG 2.5.8 Target Size (Minimum).
TARGET_PX = 24
#: Tab presses per screen: the header, every form and the tab bar of most screens; on the long lists
#: (contacts, deals) the first rows, which hold every kind of control the later ones repeat.
MAX_TABS = 80

# (test id, hash route with {contact}, {company}, {deal} filled from the phone's own data, what shows once drawn)
SCREENS = [
    ("today", "#/today", "#today h2"),
    ("contacts", "#/contacts", "#contact-list li"),
    ("contact", "#/contacts/{contact}", "section h2"),
    ("contact-edit", "#/contacts/{contact}?edit=1", "form.record-form"),
    ("companies", "#/companies", "#company-list li"),
    ("company", "#/companies/{company}", "section h2"),
    ("deals", "#/deals", "#pipeline .deal"),
    ("deal", "#/deals/{deal}", "fieldset.stages"),
    ("visit", "#/visit", "#visit-form"),
    ("tasks", "#/tasks", "#task-groups h2, #task-groups .empty"),
    ("task-new", "#/tasks/new", "form.record-form"),
    ("approvals", "#/approvals", "#approvals > *"),
    ("conflicts", "#/conflicts", "#conflicts > *"),
    ("more", "#/more", "#settings h2"),
]

RUN_AXE = """async ([tags, rules]) => {
  const brief = (result) => result.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.map((n) => ({ target: n.target.join(' '), summary: n.failureSummary })),
  }));
  const wcag = await axe.run(document, { runOnly: { type: 'tag', values: tags } });
  const structure = await axe.run(document, { runOnly: { type: 'rule', values: rules } });
  return [...brief(wcag), ...brief(structure)];
}"""

# WCAG 2.5.8: a target is at least 24 by 24 CSS px, unless it is a link inside a sentence (its
# size is set by the line of text around it: "inline" exemption), the browser draws it unstyled
# ("user agent control"; this app styles all of them), or it is hidden. The spacing exemption
# is deliberately not taken: on a phone every tap target here can be 24 px, so each must be.
TARGET_SIZES = """(minimum) => {
  const problems = [];
  const seen = new Set();
  const inline = (el) => getComputedStyle(el).display === 'inline';
  // True for a link set inside running text: inline, with words beside it in the same line box.
  const inSentence = (el) => {
    if (!inline(el)) return false;
    let block = el.parentElement;
    while (block && inline(block)) block = block.parentElement;
    if (!block) return false;
    let beside = '';
    const walk = (node) => {
      for (const child of node.childNodes) {
        if (child === el) continue;
        if (child.nodeType === Node.TEXT_NODE) beside += child.textContent;
        else if (child.nodeType === Node.ELEMENT_NODE && inline(child)) walk(child);
      }
    };
    walk(block);
    return /[\\p{L}\\p{N}]/u.test(beside);
  };
  for (const scope of document.querySelectorAll('header, #banners, main, nav')) {
    for (const el of scope.querySelectorAll('a[href], button, input:not([type="hidden"]), select, textarea')) {
      if (seen.has(el)) continue;
      seen.add(el);
      const box = el.getBoundingClientRect();
      if (box.width === 0 && box.height === 0) continue;
      if (getComputedStyle(el).visibility === 'hidden') continue;
      if (box.width >= minimum - 0.01 && box.height >= minimum - 0.01) continue;
      if (el.tagName === 'A' && inSentence(el)) continue;
      const name = (el.getAttribute('aria-label') || el.textContent || el.id || el.name || '').trim().slice(0, 40);
      problems.push(`${el.tagName.toLowerCase()} "${name}" is ${box.width.toFixed(1)}x${box.height.toFixed(1)} px`);
    }
  }
  return problems;
}"""

# After a Tab press: is the focused control's indicator drawn (2.4.7), in a colour that stands out
# 3:1 from what is behind it (1.4.11), and is the control not entirely covered by the sticky
# header or the fixed tab bar (2.4.11 Focus Not Obscured)?
FOCUS_CHECK = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return { done: true };
  const parse = (text) => {
    const m = /rgba?\\(([\\d.]+),\\s*([\\d.]+),\\s*([\\d.]+)(?:,\\s*([\\d.]+))?\\)/.exec(text);
    return m ? { rgb: [+m[1], +m[2], +m[3]], alpha: m[4] === undefined ? 1 : +m[4] } : null;
  };
  const luminance = ([r, g, b]) => {
    const lin = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
  };
  const contrast = (a, b) => {
    const [x, y] = [luminance(a), luminance(b)].sort((p, q) => q - p);
    return (x + 0.05) / (y + 0.05);
  };
  let behind = [255, 255, 255];
  for (let node = el.parentElement; node; node = node.parentElement) {
    const bg = parse(getComputedStyle(node).backgroundColor);
    if (bg && bg.alpha === 1) { behind = bg.rgb; break; }
  }
  const style = getComputedStyle(el);
  const colours = [];
  if (style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2) colours.push(style.outlineColor);
  if (style.boxShadow !== 'none') colours.push(...(style.boxShadow.match(/rgba?\\([^)]*\\)/g) || []));
  const best = Math.max(0, ...colours.map(parse).filter((c) => c && c.alpha === 1).map((c) => contrast(c.rgb, behind)));
  const name = `${el.tagName.toLowerCase()} "${(el.getAttribute('aria-label') || el.textContent || el.id || '').trim().slice(0, 40)}"`;
  const problems = [];
  if (best < 3) problems.push(`${name}: no focus indicator with 3:1 contrast (best ${best.toFixed(2)}:1)`);
  const box = el.getBoundingClientRect();
  const chrome = [...document.querySelectorAll('header.top, nav.tabs')].filter((c) => !c.contains(el));
  const xs = [box.left + 1, (box.left + box.right) / 2, box.right - 1];
  const ys = [box.top + 1, (box.top + box.bottom) / 2, box.bottom - 1];
  const visible = xs.some((x) => ys.some((y) => {
    if (x < 0 || y < 0 || x >= innerWidth || y >= innerHeight) return false;
    const hit = document.elementFromPoint(x, y);
    return Boolean(hit) && !chrome.some((c) => c.contains(hit));
  }));
  if (!visible && box.width > 0) problems.push(`${name}: hidden under the header or the tab bar when focused`);
  return { done: false, problems, key: el };
}"""


def _axe_problems(page: Page) -> list[str]:
    page.add_script_tag(path=str(AXE))
    violations = page.evaluate(RUN_AXE, [WCAG_TAGS, STRUCTURE_RULES])
    lines = []
    for v in violations:
        lines.append(f"axe {v['id']} ({v['impact']}): {v['help']}")
        lines.extend(f"    {n['target']}: {' '.join(n['summary'].split())}" for n in v["nodes"])
    return lines


def _focus_problems(page: Page) -> list[str]:
    """Tabs through the page from the top, as a keyboard user would."""
    page.evaluate("() => { document.activeElement?.blur(); window.scrollTo(0, 0); }")
    problems: list[str] = []
    first = None
    for _ in range(MAX_TABS):
        page.keyboard.press("Tab")
        handle = page.evaluate_handle(FOCUS_CHECK)
        result = handle.get_property("done").json_value()
        if result:
            break
        element = handle.get_property("key")
        if first is None:
            first = element
        elif page.evaluate("([a, b]) => a === b", [first, element]):
            break  # round the whole page and back to the start
        problems.extend(handle.get_property("problems").json_value())
    return problems


def _screen_problems(page: Page) -> list[str]:
    problems = _axe_problems(page)
    problems += [f"target under {TARGET_PX} px: {p}" for p in page.evaluate(TARGET_SIZES, TARGET_PX)]
    problems += [f"focus: {p}" for p in _focus_problems(page)]
    width = page.viewport_size
    page.set_viewport_size({"width": REFLOW_WIDTH, "height": width["height"]})
    try:
        # Let the layout settle at the new width before measuring. (Not innerWidth: a phone's
        # layout viewport widens to fit content that is too wide, the very fault looked for.)
        page.evaluate("() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))")
        scroll = page.evaluate("() => document.documentElement.scrollWidth")
        # The tab bar is fixed and adds nothing to scrollWidth; a box clipped by overflow: hidden
        # adds nothing either but loses content. Any box reaching past the right edge is caught here.
        wide = page.evaluate(
            """(w) => [...document.querySelectorAll('body *')]
                 .filter((el) => el.getBoundingClientRect().right > w + 0.5 && getComputedStyle(el).visibility !== 'hidden')
                 .slice(0, 5).map((el) => `${el.tagName.toLowerCase()}.${el.className} "${el.textContent.trim().slice(0, 30)}"`)""",
            REFLOW_WIDTH,
        )
        if scroll > REFLOW_WIDTH or wide:
            problems.append(f"reflow: the page is {scroll} px wide at {REFLOW_WIDTH} px; past the edge: {wide}")
    finally:
        page.set_viewport_size(width)
    return problems


def _context_options(live_server: str) -> dict[str, Any]:
    # bypass_csp: the app's Content-Security-Policy (script-src 'self') rightly refuses the inline
    # <script> that add_script_tag makes of axe.min.js. Only these contexts bypass it, so that
    # axe can run; the other browser tests keep the policy and watch the console for breaches.
    return {**PHONE, "base_url": live_server, "bypass_csp": True}


@pytest.fixture(scope="module")
def manager_page(browser: Browser, live_server: str) -> Iterator[tuple[Page, dict[str, str]]]:
    """One phone signed in as the manager for every screen below: signing in and the first sync
    are the slow part, and checking a screen changes no data."""
    context = browser.new_context(**_context_options(live_server))
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    page = context.new_page()
    sign_in(page, live_server, MANAGER)
    wait_synced(page)
    ids = page.evaluate(
        """() => import('/static/js/store.js').then(async (s) => {
             const [contacts, companies, deals, approvals] = await Promise.all(['contact', 'company', 'deal', 'approval'].map((t) => s.listEntries(t)));
             // A deal with an approval request shows the most: the request, the decision buttons, the audit trail.
             return { contact: contacts[0].id, company: companies[0].id, deal: approvals[0]?.v.deal || deals[0].id };
           })"""
    )
    yield page, ids
    context.close()


def _check(problems: list[str], where: str) -> None:
    assert not problems, f"{where} is not WCAG 2.2 AA:\n" + "\n".join(problems)


def test_the_checks_catch_what_they_look_for(browser: Browser, live_server: str) -> None:
    # The screens pass only if each check would see its kind of fault: plant one of each.
    context = browser.new_context(**_context_options(live_server))
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    try:
        page = context.new_page()
        page.goto("/login")
        page.get_by_label("E-mail").wait_for()
        page.evaluate(
            """() => {
                 const main = document.querySelector('main');
                 main.insertAdjacentHTML('beforeend',
                   '<input id="planted-unlabelled">' +
                   '<p><a id="planted-tiny" href="#x" style="font-size: 10px">x</a></p>' +
                   '<button id="planted-no-ring" style="outline: none; box-shadow: none">Go</button>' +
                   '<div style="width: 400px">too wide</div>');
               }"""
        )
        problems = "\n".join(_screen_problems(page))
        assert "axe label (" in problems, problems
        assert 'target under 24 px: a "x"' in problems, problems
        assert 'focus: button "Go": no focus indicator' in problems, problems
        assert "reflow: the page is" in problems, problems
    finally:
        context.close()


def test_sign_in_page_meets_wcag_aa(browser: Browser, live_server: str) -> None:
    context = browser.new_context(**_context_options(live_server))
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    try:
        page = context.new_page()
        page.goto("/login")
        page.get_by_label("E-mail").wait_for()
        _check(_screen_problems(page), "the sign-in page")
        # Refused: the reason is shown in an alert tied to the e-mail field.
        page.get_by_label("E-mail").fill(MANAGER)
        page.get_by_label("Password").fill("not the password")
        with page.expect_navigation():
            page.get_by_role("button", name="Sign in").click()
        page.get_by_role("alert").wait_for()
        _check(_screen_problems(page), "the refused sign-in page")
    finally:
        context.close()


@pytest.mark.parametrize(("route", "ready"), [(r, s) for _, r, s in SCREENS], ids=[name for name, _, _ in SCREENS])
def test_screen_meets_wcag_aa(manager_page: tuple[Page, dict[str, str]], route: str, ready: str) -> None:
    page, ids = manager_page
    # Mark the screen on show, so the wait below is for the new one, not the one before.
    page.evaluate("() => document.querySelector('#main > .view')?.setAttribute('data-old', '')")
    page.goto("/" + route.format(**ids))
    page.locator("#main > .view:not([data-old]) h1").wait_for()
    page.locator(f"#main > .view:not([data-old]) :is({ready})").first.wait_for()
    _check(_screen_problems(page), route)
