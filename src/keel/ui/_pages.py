"""The HTML pages: Jinja2 templates rendered on the server (or into files by the export).

A page names the pages it links to by their path (``runs/ab12``, ``models/loans``); the
:class:`Pages` renderer turns a path into a link: ``/runs/ab12`` when served, a relative
``../runs/ab12.html`` when exported, so an exported site works from any folder, no server.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

from keel._version import __version__
from keel.errors import MissingDependencyError

__all__ = ["Pages"]

TEMPLATES = "keel.ui"


class Pages:
    """Renders the templates; ``exported`` pages link to ``.html`` files by relative paths."""

    def __init__(self, *, exported: bool = False, project: str = "") -> None:
        try:
            import jinja2
        except ImportError as exc:  # pragma: no cover - jinja2 comes with the ui extra
            raise MissingDependencyError("jinja2", extra="ui", purpose="keel ui") from exc
        self.exported = exported
        self.project = project
        self.env = jinja2.Environment(
            loader=jinja2.PackageLoader(TEMPLATES, "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["num"] = number
        self.env.filters["when"] = when
        self.env.filters["short"] = lambda text: (text or "")[:8]
        self.env.filters["plain"] = plain

    def render(self, template: str, page: str, **context: Any) -> str:
        """The HTML of ``template`` shown at ``page`` (a path: ``""`` is the overview)."""
        depth = page.count("/")

        def url(path: str, **query: Any) -> str:
            shown = {k: v for k, v in query.items() if v not in (None, "", False)}
            if not self.exported:
                link = "/" + quote(path)
                return link + ("?" + urlencode(shown, doseq=True) if shown else "")
            target = ("index" if path == "" else quote(path)) + ".html"
            return "../" * depth + target

        def static(name: str) -> str:
            return ("../" * depth + "static/" if self.exported else "/static/") + name

        return self.env.get_template(template).render(
            url=url,
            static=static,
            exported=self.exported,
            project=self.project,
            version=__version__,
            page=page,
            **context,
        )


def number(value: Any) -> str:
    """A metric or param as a short, exact-enough text (what the JSON holds, rounded)."""
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value).lower()
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    if isinstance(value, float):
        return str(value) if not math.isfinite(value) else f"{value:.6g}"
    return str(value)


def plain(value: Any) -> str:
    """A param value as it was logged (JSON text for structures)."""
    if isinstance(value, str):
        return value
    import json

    return json.dumps(value) if isinstance(value, dict | list) else number(value)


def when(text: str | None) -> str:
    """An ISO time (as the JSON holds it) shown to the second, in UTC."""
    if not text:
        return ""
    try:
        return datetime.fromisoformat(text).strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return text
