"""Template rendering without per-request overheads (issue 22).

Jinja gives every template its globals as a ``collections.ChainMap`` (the template's own over the
environment's). Each ``{% from "..." import macro %}`` then checks which of the importing
context's global names the imported template lacks with ``context_keys - globals.keys()``; on a
ChainMap that is a pure-Python ``in`` per name per map. GOV.UK Frontend's macros import their
helpers inside every macro call, so a page with a form ran that check hundreds of times (a
third of the facts page's CPU). ``PortalEnvironment`` gives templates a ChainMap whose
``keys()`` is a dict view, so the same set difference runs in C. Same names, same lookups, same
result: only ``keys()`` is faster.
"""

from __future__ import annotations

from collections import ChainMap
from typing import Any

from flask.templating import Environment


class _Globals(ChainMap):
    def keys(self):  # type: ignore[override]
        merged: dict[str, Any] = {}
        for mapping in reversed(self.maps):
            merged.update(dict.fromkeys(mapping))
        return merged.keys()


class PortalEnvironment(Environment):
    def make_globals(self, d):  # type: ignore[override]
        return _Globals({} if d is None else d, self.globals)
