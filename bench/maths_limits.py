"""How deep and how long may LaTeX in an answer be before Chromium's tab dies? (issue 15, item 3)

Not a test: the figures behind MATHS_DEPTH and MATHS_CHARS in ui/maths.py. Starts the app
against the fake endpoint with those limits switched off, streams answers whose maths nests one
construct deeper and deeper (or grows longer), and records for each whether the tab survived,
how long KaTeX took and how deep the page's DOM got. Every process listens on 127.0.0.1.

    .venv/bin/python bench/maths_limits.py                  # every construct, ~5-10 min
    .venv/bin/python bench/maths_limits.py frac braces      # some of them
"""

from __future__ import annotations

import argparse
import itertools
import os
import string
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import conftest  # noqa: E402
from tests.conftest import CHROMIUM, CHROMIUM_ARGS, TEST_KEY, start_app, stop_app  # noqa: E402
from tests.fake_openai import FakeOpenAI, Reply  # noqa: E402

# One level of each construct: (opening, innermost, closing); the maths is $$open*d inner close*d$$.
CONSTRUCTS: dict[str, tuple[str, str, str]] = {
    "frac": ("\\frac{1}{", "x", "}"),
    "braces": ("{", "x", "}"),
    "sqrt": ("\\sqrt{", "x", "}"),
    "sup": ("x^{", "x", "}"),
    "left": ("\\left(", "x", "\\right)"),
    "matrix": ("\\begin{matrix}", "x", "\\end{matrix}"),
    "color": ("\\color{red}{", "x", "}"),
    "underbrace": ("\\underbrace{", "x", "}_{a}"),
    "overbrace": ("\\overbrace{", "x", "}^{a}"),
    "boxed": ("\\boxed{", "x", "}"),
    "overset": ("\\overset{a}{", "x", "}"),
    "cfrac": ("\\cfrac{1}{", "x", "}"),
    "binom": ("\\binom{1}{", "x", "}"),
    "xarrow": ("\\xrightarrow{", "x", "}"),
    "sqrt_n": ("\\sqrt[3]{", "x", "}"),
    "hat": ("\\hat{", "x", "}"),
    "text": ("\\text{a ", "x", "}"),
    "subsup": ("x_{a}^{", "x", "}"),
}
DEPTHS = (40, 60, 75, 100, 120, 140, 150, 200, 300, 500)
LONG = {"long": ("x+", (1_000, 2_000, 5_000, 10_000, 20_000, 50_000)),  # flat maths, characters
        "long_frac": ("\\frac{a}{b}+", (1_000, 2_000, 5_000, 10_000, 20_000)),
        "long_rows": ("a_1 &= \\frac{b}{c} + d^2 \\\\ ", (1_000, 2_000, 5_000, 10_000, 20_000))}
# Macros: recursion (KaTeX stops it at 1000 expansions), and a chain of 150 definitions, each a
# fraction deeper than the last (3.3 KB, never three braces deep).
_NAMES = ["".join(pair) for pair in itertools.product(string.ascii_lowercase, repeat=2)][:151]
MACROS = ("\\def\\a{{\\a}}\\a",
          "\\def\\aa{x}" + "".join(f"\\def\\{b}{{\\frac{{1}}{{\\{a}}}}}"
                                  for a, b in itertools.pairwise(_NAMES)) + "\\" + _NAMES[-1])

DEPTH_JS = """() => {
  let deepest = 0;
  for (const el of document.querySelectorAll('#chat .katex *')) {
    let d = 0;
    for (let e = el; e && e.id !== 'chat'; e = e.parentElement) d++;
    deepest = Math.max(deepest, d);
  }
  return [document.querySelectorAll('#chat .katex').length, deepest];
}"""


def trial(browser, url: str, fake: FakeOpenAI, maths: str) -> tuple[str, float, int]:
    """(outcome, seconds from Enter to the answer's end, DOM depth under #chat)."""
    from playwright.sync_api import Error, expect

    fake.script(Reply(text=f"Here:\n\n$${maths}$$\n\nEND-OF-ANSWER"))
    context = browser.new_context()
    page = context.new_page()
    crashed: list[bool] = []
    errors: list[str] = []
    page.on("crash", lambda _: crashed.append(True))
    page.on("console", lambda m: errors.append(m.text[:60]) if m.type == "error" else None)
    try:
        page.goto(url)
        box = page.locator("#chat-input textarea")
        expect(box).to_be_visible(timeout=30_000)
        box.fill("maths?")
        started = time.monotonic()
        box.press("Enter")
        expect(page.locator("#stats")).to_contain_text("tokens", timeout=60_000)
        expect(page.locator("#chat")).to_contain_text("END-OF-ANSWER", timeout=60_000)
        page.wait_for_function("() => document.querySelector("
                               "'#chat .katex, #chat .katex-error, #chat code') !== null", timeout=60_000)
        if page.locator("#chat .katex-error").count():
            return "KaTeX error", time.monotonic() - started, 0
        took = time.monotonic() - started
        count, depth = page.evaluate(DEPTH_JS)
        page.mouse.wheel(0, 400)  # one more layout, then ask the renderer something
        page.evaluate("() => document.body.getBoundingClientRect().height")
        return ("katex" if count else "code"), took, depth
    except (Error, AssertionError) as e:
        if crashed or "crash" in str(e).lower():
            return "CRASH", 0.0, 0
        return f"LOST ({'; '.join(errors) or str(e).splitlines()[0][:60]})", 0.0, 0
    finally:
        context.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("which", nargs="*", help=f"of {', '.join([*CONSTRUCTS, 'macro', *LONG])}")
    args = parser.parse_args()
    which = args.which or [*CONSTRUCTS, "macro", *LONG]
    from playwright.sync_api import sync_playwright

    with FakeOpenAI() as fake, tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        # The app with the limits off: an app.py that tells ui.maths to let all maths through,
        # then runs the real one; start_app runs ROOT/app.py, so ROOT points at it meanwhile.
        (Path(tmp) / "app.py").write_text(
            "import runpy, sys\n"
            f"sys.path.insert(0, {str(ROOT)!r})\n"
            "import ui.maths as m\n"
            "m.MATHS_DEPTH = m.MATHS_CHARS = 10**9\n"
            f"runpy.run_path({str(ROOT / 'app.py')!r}, run_name='__main__')\n")
        conftest.ROOT = Path(tmp)
        try:
            app = start_app({"OPENAI_BASE_URL": fake.base_url, "OPENAI_API_KEY": TEST_KEY,
                             "GLM_MODELS": "glm-4.5v"}, Path(tmp))
        finally:
            conftest.ROOT = ROOT
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            print(f"{'construct':<12} {'size':>8}  {'outcome':<8} {'seconds':>7} {'DOM depth':>9}")
            for name in which:
                if name in LONG:
                    unit, sizes = LONG[name]
                    cases = [(n, unit * (n // len(unit))) for n in sizes]
                    if "&" in unit:  # rows of an aligned block
                        cases = [(n, f"\\begin{{aligned}}{m}\\end{{aligned}}") for n, m in cases]
                elif name == "macro":
                    cases = [(len(m), m) for m in MACROS]
                else:
                    opening, inner, closing = CONSTRUCTS[name]
                    cases = [(d, opening * d + inner + closing * d) for d in DEPTHS]
                for size, maths in cases:
                    outcome, took, depth = trial(browser, app.url, fake, maths)
                    print(f"{name:<12} {size:>8}  {outcome:<8} {took:>7.2f} {depth:>9}", flush=True)
                    if outcome != "katex" and name != "macro":
                        break  # deeper only crashes too
        finally:
            browser.close()
            stop_app(app)


if __name__ == "__main__":
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    main()
