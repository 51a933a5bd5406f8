"""axe-core in the browser tests, from the copy in tests/e2e/vendor (never downloaded), and
the layout checks every page gets at each width: no sideways scrolling, no clipped text.

``page_problems(page)`` returns what is wrong with the page now shown, one line each:
axe violations of impact serious or critical (with the elements' selectors), a document
wider than the viewport, not exactly one <h1>, and text cut off by an element that hides
its overflow.
axe is injected through the DevTools protocol (``page.evaluate``), which the site's
Content-Security-Policy does not govern, so no inline script is needed."""

from functools import cache
from pathlib import Path

AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
ARTIFACTS = Path(__file__).resolve().parents[2] / "e2e-artifacts"
FAILING_IMPACTS = ("serious", "critical")

RUN_AXE = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    targets: v.nodes.slice(0, 5).map((n) => n.target.join(" ")),
  }));
}"""

# Elements that hide their overflow yet show less than their text: cut-off words.
# Intended cuts (the one-line notification titles end in an ellipsis) and screen-reader
# only text are left out.
CLIPPED_TEXT = """() => {
  const cut = [];
  for (const el of document.body.querySelectorAll("*")) {
    if (el.closest(".visually-hidden, .line-text, svg, .skip-link")) continue;
    const style = getComputedStyle(el);
    if (style.display === "none" || style.visibility === "hidden") continue;
    const hides = (overflow) => overflow === "hidden" || overflow === "clip";
    if (!hides(style.overflowX) && !hides(style.overflowY)) continue;
    if (!el.innerText || !el.innerText.trim()) continue;
    if (el.scrollWidth > el.clientWidth + 1 || el.scrollHeight > el.clientHeight + 1) {
      cut.push(`${el.tagName.toLowerCase()}.${el.className}: ${el.innerText.trim().slice(0, 40)}`);
    }
  }
  return cut;
}"""


@cache
def _axe_source() -> str:
    return AXE.read_text(encoding="utf-8")


def axe_violations(page) -> list[dict]:
    """axe's violations on the current page of impact serious or critical."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(_axe_source())
    return [v for v in page.evaluate(RUN_AXE) if v["impact"] in FAILING_IMPACTS]


def page_problems(page, *, layout: bool = True) -> list[str]:
    """What is wrong with the current page: axe's serious and critical violations and, with
    ``layout``, sideways scrolling, a missing (or second) <h1> and clipped text."""
    problems = [
        f"axe {v['impact']} {v['id']}: {v['help']} at {v['targets']}" for v in axe_violations(page)
    ]
    if not layout:
        return problems
    width = page.evaluate("document.documentElement.scrollWidth")
    viewport = page.viewport_size["width"]
    if width > viewport:
        problems.append(f"scrolls sideways: {width} px wide at {viewport} px")
    headings = page.evaluate("document.querySelectorAll('h1').length")
    if headings != 1:  # axe counts a missing <h1> only as moderate (page-has-heading-one)
        problems.append(f"{headings} <h1> headings instead of one")
    problems += [f"clipped text: {cut}" for cut in page.evaluate(CLIPPED_TEXT)]
    return problems
