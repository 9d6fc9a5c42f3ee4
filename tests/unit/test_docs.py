"""The README stays a map (under 10 KB, the two commands first) and no link in the docs is
dead: pages move, and a broken link is the first thing a new user meets."""

import re

from docgen.__main__ import outputs
from tests.support.service import ROOT

PAGES = [
    ROOT / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
    ROOT / "helm/glassbox/README.md",
]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def test_readme_is_a_map_under_10_kb_that_starts_with_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(readme.encode()) < 10_000
    quickstart = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    assert "make run" in quickstart
    assert "make test" in quickstart
    for page in sorted((ROOT / "docs").glob("*.md")):
        assert f"docs/{page.name}" in readme, f"README does not link docs/{page.name}"


def test_every_relative_link_in_the_docs_resolves() -> None:
    dead = [
        f"{page.relative_to(ROOT)} -> {target}"
        for page in PAGES
        for target in LINK.findall(page.read_text())
        if not target.startswith(("http://", "https://", "mailto:"))
        and not (page.parent / target).exists()
    ]
    assert dead == []


def test_generated_doc_tables_are_current() -> None:
    """Settings, metrics and alerts tables are written from the code (`make docs`): what
    `python -m docgen --check` compares, in process."""
    stale = [
        str(path.relative_to(ROOT)) for path, text in outputs().items() if path.read_text() != text
    ]
    assert stale == [], "run `make docs`"
