"""What every route of the app reads: the opened project and the page renderer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from keel.tracking import Project
    from keel.ui._pages import Pages

__all__ = ["Context"]


@dataclass(frozen=True)
class Context:
    project: Project
    pages: Pages
