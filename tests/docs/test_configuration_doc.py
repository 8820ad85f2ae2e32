"""docs/configuration.md and the README stay true to the one ``Settings`` class."""

from __future__ import annotations

import re
from pathlib import Path

from serving.core.settings import Settings, settings_reference

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "configuration.md"
BEGIN, END = "<!-- settings:begin -->\n", "<!-- settings:end -->"
REGENERATE = (
    "docs/configuration.md is out of date with serving/core/settings.py: replace the table between "
    "its settings markers with the output of\n  .venv/bin/python -c "
    "'from serving.core.settings import settings_reference; print(settings_reference(), end=\"\")'"
)


def test_configuration_table_matches_settings() -> None:
    text = DOC.read_text()
    start, stop = text.index(BEGIN) + len(BEGIN), text.index(END)
    assert text[start:stop] == settings_reference(), REGENERATE


def test_every_documented_variable_is_a_setting() -> None:
    known = {f"PALIMPSEST_{name.upper()}" for name in Settings.model_fields}
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("**/*.md"))]
    named = {  # a trailing "*" names a family, as in PALIMPSEST_EDIT_*
        (page.name, name.rstrip("_"))
        for page in pages
        for name, star in re.findall(r"(PALIMPSEST_[A-Z0-9_]+)(\*?)", page.read_text())
        if not star
    }
    unknown = sorted((page, name) for page, name in named if name not in known)
    assert not unknown, f"variables that serving/core/settings.py does not define: {unknown}"
