"""The README is a front page and docs/ holds the rest: every relative link resolves, every page is reachable
from the README, and every topic page starts from a command a user types."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = [README, *sorted(DOCS.glob("*.md"))]

FENCED = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.DOTALL | re.MULTILINE)
CODE_SPAN = re.compile(r"(`+)(?!`).+?(?<!`)\1(?!`)", re.DOTALL)
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_LINK = re.compile(r"^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$", re.MULTILINE)
HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$", re.MULTILINE)
SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)


def prose(text: str) -> str:
    """The text outside fenced blocks and code spans, where links are links."""
    return CODE_SPAN.sub("", FENCED.sub("", text))


def links(page: Path) -> list[str]:
    text = prose(page.read_text(encoding="utf-8"))
    return INLINE_LINK.findall(text) + REFERENCE_LINK.findall(text)


def anchors(page: Path) -> set[str]:
    """The anchors GitHub gives the page's headings: lower case, punctuation dropped, spaces as hyphens, a
    repeated one numbered."""
    seen: dict[str, int] = {}
    found = set()
    for heading in HEADING.findall(FENCED.sub("", page.read_text(encoding="utf-8"))):
        text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
        slug = re.sub(r"[^\w\- ]", "", text).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def broken_link(page: Path, target: str) -> str | None:
    """Why `target`, a link on `page`, does not resolve; None when it does or is not relative."""
    if SCHEME.match(target):
        return None
    path, _, anchor = target.partition("#")
    resolved = (page.parent / path).resolve() if path else page
    if not resolved.exists():
        return f"{resolved.relative_to(ROOT) if resolved.is_relative_to(ROOT) else resolved} does not exist"
    if anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
        return f"{resolved.relative_to(ROOT)} has no heading #{anchor}"
    return None


def section(text: str, heading: str) -> list[str]:
    """The lines under `## heading`, up to the next heading of that level."""
    lines = text.splitlines()
    start = lines.index(f"## {heading}") + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("## ")), len(lines))
    return lines[start:end]


def test_the_link_reader_finds_links_and_skips_code() -> None:
    text = "[a](docs/a.md) ![img](img/x.png) `[no](code.md)`\n```\n[no](fenced.md)\n```\n[ref]: other.md \"t\"\n"
    assert CODE_SPAN.sub("", FENCED.sub("", text)).count("](") == 2
    assert INLINE_LINK.findall(prose(text)) == ["docs/a.md", "img/x.png"]
    assert REFERENCE_LINK.findall(prose(text)) == ["other.md"]


def test_anchors_are_the_ones_github_makes(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# Title\n## 2. The rubric\n## `grader grade`'s options\n## Notes\n## Notes\n```\n# not one\n```\n",
                    encoding="utf-8")
    assert anchors(page) == {"title", "2-the-rubric", "grader-grades-options", "notes", "notes-1"}


def test_every_relative_link_resolves() -> None:
    broken = [f"{page.relative_to(ROOT)}: ({target}): {why}"
              for page in PAGES for target in links(page) if (why := broken_link(page, target))]
    assert broken == []


def test_every_docs_page_is_linked_from_the_readme() -> None:
    linked = {(README.parent / target.partition("#")[0]).resolve() for target in links(README)}
    assert [page.name for page in PAGES[1:] if page.resolve() not in linked] == []


def test_the_readme_is_a_front_page() -> None:
    text = README.read_text(encoding="utf-8")
    setup = FENCED.search(text)
    assert setup is not None
    commands = [line.split("#")[0].strip() for line in setup.group(0).splitlines()[1:-1]]
    assert [command for command in commands if command] == ["make demo", "make test"]
    assert len(section(text, "A short tour")) < 30
    assert section(text, "Where to go next")


def test_every_topic_page_starts_from_a_command() -> None:
    """After its title, each page's first block is a fenced shell block: the command the page explains."""
    starts = {}
    for page in PAGES[1:]:
        lines = [line for line in page.read_text(encoding="utf-8").splitlines() if line.strip()]
        starts[page.name] = (lines[0].startswith("# "), lines[1])
    assert {name: start for name, start in starts.items() if start != (True, "```sh")} == {}
