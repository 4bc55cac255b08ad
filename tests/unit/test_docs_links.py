"""Every relative link in README.md and docs/ leads somewhere: the file exists, and a #fragment names a heading
of that file (GitHub's anchors: lower case, punctuation dropped, spaces to hyphens)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", ROOT / "deploy" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# [text](target) outside code spans; images too. Autolinks and bare URLs are not checked here.
_LINK = re.compile(r"(?<!`)\[[^\]]*\]\(([^)\s]+)\)")
_HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")


def _prose(text: str) -> str:
    """The page without its fenced code blocks and inline code, where brackets are not links."""
    lines, fenced = [], False
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(re.sub(r"`[^`]*`", "", line))
    return "\n".join(lines)


def anchors(page: Path) -> set[str]:
    found = set()
    for line in _prose(page.read_text(encoding="utf-8")).splitlines():
        heading = _HEADING.match(line)
        if heading:
            text = re.sub(r"[`*_]", "", heading.group(1)).strip().lower()
            found.add(re.sub(r"[^\w\- ]", "", text).replace(" ", "-"))
    return found


def links(page: Path) -> list[str]:
    return _LINK.findall(_prose(page.read_text(encoding="utf-8")))


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page: Path) -> None:
    broken = []
    for target in links(page):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto: ...: not ours to check offline
            continue
        path, _, fragment = target.partition("#")
        destination = (page.parent / path).resolve() if path else page
        if not destination.exists():
            broken.append(f"{target}: no such file")
        elif fragment and destination.suffix == ".md" and fragment.lower() not in anchors(destination):
            broken.append(f"{target}: no heading #{fragment} in {destination.name}")
    assert not broken, f"{page.name}: " + "; ".join(broken)


def test_the_checker_sees_links_and_headings() -> None:
    """The patterns find what they must: a README that links docs, and the runbook's alarm headings."""
    assert "docs/costs.md" in links(ROOT / "README.md")
    runbook = ROOT / "docs" / "runbook.md"
    assert any(target.startswith("#") for target in links(runbook))
    assert "updatererrorsalarm" in anchors(runbook)
