"""docs/performance.md: each benchmark owns one `## ` section and rewrites only it."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "performance.md"


def write_section(heading: str, section: str) -> None:
    """Replace the section under heading (up to the next `## ` heading), or append it."""
    if DOC.exists():
        text = DOC.read_text()
    else:
        text = (
            "# Performance\n\n"
            "How CohortService performs, measured by the scripts under `bench/`. Each section "
            "says which command produced it, on what machine and when.\n"
        )
    start = text.find(heading + "\n")
    if start < 0:
        text = text.rstrip() + "\n\n" + section
    else:
        following = re.search(r"^## ", text[start + len(heading) :], flags=re.MULTILINE)
        end = len(text) if following is None else start + len(heading) + following.start()
        text = text[:start] + section + ("\n" + text[end:] if end < len(text) else "")
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(text)
