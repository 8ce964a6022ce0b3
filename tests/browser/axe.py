"""axe-core in the real-browser tests: every page they visit must have no WCAG 2.1 AA violation.

axe-core is vendored in ``vendor/axe-core`` (``axe.min.js`` from the npm package
``axe-core``, MPL-2.0, with its license files; see ``vendor/axe-core/README.md``) and is
evaluated into every frame of the page — the development platform's course page and
Tandem inside its iframe are audited one document at a time, so a violation names the
page it is on. Nothing is fetched from the network.

Use :func:`assert_accessible` after a page has settled; it also saves a full-page
screenshot (``test-output/screenshots/<test>/<name>.png``, or under ``$TANDEM_SCREENSHOTS``)
and prints where.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from functools import cache
from pathlib import Path
from typing import Any

__all__ = [
    "AXE_SHA256",
    "WCAG_21_AA",
    "assert_accessible",
    "axe_source",
    "format_violations",
    "run_axe",
    "screenshot",
]

VENDOR = Path(__file__).resolve().parent / "vendor" / "axe-core"
#: sha256 of the vendored axe.min.js (axe-core 4.14.1); a changed file fails loudly.
AXE_SHA256 = "29348999450cdf2849a8e70b7912fc2da85a849da39c0d0d5394f51d4a9ed95c"
#: The rules run: WCAG 2.0 and 2.1, levels A and AA.
WCAG_21_AA = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa")
SCREENSHOTS = Path(
    os.environ.get("TANDEM_SCREENSHOTS")
    or Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
)

_RUN = """async (tags) => {
  const results = await axe.run(document, {
    runOnly: {type: "tag", values: tags},
    resultTypes: ["violations"],
    iframes: false,
  });
  return results.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
    nodes: v.nodes.map((n) => ({
      target: n.target.map(String), html: n.html, summary: n.failureSummary || "",
    })),
  }));
}"""


@cache
def axe_source() -> str:
    """The vendored axe-core, checked against :data:`AXE_SHA256`."""
    data = (VENDOR / "axe.min.js").read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != AXE_SHA256:
        raise AssertionError(f"vendor/axe-core/axe.min.js changed: sha256 {digest}")
    return data.decode("utf-8")


def _audited(frame: Any) -> bool:
    url = frame.url or ""
    return not frame.is_detached() and url.startswith(("http://", "https://"))


def run_axe(page: Any, *, tags: tuple[str, ...] = WCAG_21_AA) -> dict[str, list[dict[str, Any]]]:
    """Run axe in every frame of ``page``; violations by frame URL (empty lists dropped)."""
    found: dict[str, list[dict[str, Any]]] = {}
    for frame in page.frames:
        if not _audited(frame):
            continue
        frame.wait_for_load_state("load")
        if not frame.evaluate("() => typeof window.axe === 'object'"):
            frame.evaluate(axe_source())
        violations = frame.evaluate(_RUN, list(tags))
        if violations:
            found[frame.url] = violations
    return found


def format_violations(found: dict[str, list[dict[str, Any]]]) -> str:
    """A readable report: rule, impact, help link, then each offending element."""
    lines: list[str] = []
    for url, violations in found.items():
        lines.append(f"on {url}:")
        for v in violations:
            lines.append(f"  [{v['impact']}] {v['id']}: {v['help']} ({v['helpUrl']})")
            for node in v["nodes"][:8]:
                html = re.sub(r"\s+", " ", node["html"])[:200]
                lines.append(f"    - {' > '.join(node['target'])}: {html}")
                for line in node["summary"].splitlines():
                    lines.append(f"        {line.strip()}")
            if len(v["nodes"]) > 8:
                lines.append(f"    … and {len(v['nodes']) - 8} more")
    return "\n".join(lines)


def _test_folder() -> str:
    current = os.environ.get("PYTEST_CURRENT_TEST", "browser").split(" ")[0]
    name = current.split("::")[-1]
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:120] or "browser"


_CLEARED: set[Path] = set()


def screenshot(page: Any, name: str) -> Path:
    """Save a full-page screenshot of ``page`` for the running test; print its path.

    The test's folder is emptied on its first screenshot in this run, so it holds only
    this run's pages.
    """
    folder = SCREENSHOTS / _test_folder()
    if folder not in _CLEARED:
        _CLEARED.add(folder)
        shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', name)}.png"
    # Show embedded pages (Tandem in the platform's iframe) whole: stretch each iframe to
    # its content's height for the shot, then put it back. Nothing is requested again.
    stretched = []
    for frame in page.frames:
        if frame is page.main_frame or not _audited(frame):
            continue
        element = frame.frame_element()
        height = frame.evaluate("() => document.documentElement.scrollHeight")
        before = element.evaluate(
            "(el, h) => { const b = el.style.height; el.style.height = h + 'px'; return b; }",
            height + 4,
        )
        stretched.append((element, before))
    try:
        page.screenshot(path=str(path), full_page=True)
    finally:
        for element, before in stretched:
            element.evaluate("(el, b) => { el.style.height = b; }", before)
    print(f"screenshot: {path}")  # noqa: T201 - the path is the test's output
    return path


def assert_accessible(page: Any, name: str) -> Path:
    """Screenshot ``page`` as ``name`` and fail on any WCAG 2.1 A/AA violation axe finds.

    Returns:
        The screenshot's path.
    """
    path = screenshot(page, name)
    found = run_axe(page)
    if found:
        report = format_violations(found)
        print(f"axe-core violations on {name!r}:\n{report}")  # noqa: T201
        raise AssertionError(
            f"axe-core found accessibility violations on {name!r} (screenshot {path}):\n{report}"
        )
    return path
