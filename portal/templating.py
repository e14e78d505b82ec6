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

import threading
from collections import ChainMap, OrderedDict
from typing import Any

from flask import current_app
from flask.templating import Environment
from markupsafe import Markup, escape


class _Globals(ChainMap):
    def keys(self):  # type: ignore[override]
        merged: dict[str, Any] = {}
        for mapping in reversed(self.maps):
            merged.update(dict.fromkeys(mapping))
        return merged.keys()


class PortalEnvironment(Environment):
    def make_globals(self, d):  # type: ignore[override]
        return _Globals({} if d is None else d, self.globals)


# GOV.UK form widgets (govuk-frontend-wtf) render each field with a full render_template: the
# context processors, the signals and the GOV.UK macro, for output that depends on the field's
# params alone. The same params give the same HTML, so each process keeps the last
# WIDGET_CACHE_SIZE renderings, keyed by the widget's template and its params (Markup kept apart
# from plain text, which is escaped).
WIDGET_CACHE_SIZE = 4096
_widget_cache: OrderedDict[tuple, Markup] = OrderedDict()
_widget_lock = threading.Lock()


def _frozen(value: Any) -> Any:
    if isinstance(value, Markup):
        return ("markup", str(value))
    if isinstance(value, dict):
        return ("dict", tuple((k, _frozen(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return ("list", tuple(_frozen(v) for v in value))
    if value is None or isinstance(value, (str, int, float, bool)):
        return (type(value).__name__, value)
    raise TypeError  # anything else (a lazy string, an object) is rendered, not cached


# Where a memoised component holds a form, its CSRF token is written as this placeholder and
# put in after the memo: the token is signed with the time, so it differs from second to second,
# and a memo keyed by it would never hit (and would push the widgets out of the cache).
CSRF_PLACEHOLDER = "__portal_csrf_token__"


def govuk_component(template: str, macro: str, params: dict, csrf: bool = False) -> Markup:
    """The HTML of a GOV.UK Frontend macro for ``params``, memoised like the widgets (the
    header's service navigation on every page: same links, same user, same HTML). With
    ``csrf``, CSRF_PLACEHOLDER in the params becomes this request's CSRF token."""
    html = _memoised((template, macro), params, lambda: _call_macro(template, macro, params))
    if csrf:
        from flask_wtf.csrf import generate_csrf

        token = str(escape(generate_csrf()))
        html = Markup(str(html).replace(CSRF_PLACEHOLDER, token))  # noqa: S704  # nosec B704 (escaped token into autoescaped HTML)
    return html


def _call_macro(template: str, macro: str, params: dict) -> Markup:
    module = current_app.jinja_env.get_template(template).module
    return Markup(getattr(module, macro)(params))  # noqa: S704  # nosec B704 (autoescaped macro output)


def render_widget(template: str, params: dict) -> Markup:
    """The HTML of a GOV.UK widget template for ``params``; what render_template gives."""
    return _memoised(template, params, lambda: _render(template, params))


def _render(template: str, params: dict) -> Markup:
    page = current_app.jinja_env.get_template(template)  # autoescaped, as render_template
    return Markup(page.render(params=params))  # noqa: S704  # nosec B704 (autoescaped template output)


def _memoised(name: Any, params: dict, make) -> Markup:
    try:
        key = (name, _frozen(params))
    except TypeError:
        key = None
    if key is not None:
        with _widget_lock:
            html = _widget_cache.get(key)
            if html is not None:
                _widget_cache.move_to_end(key)
                return html
    html = make()
    if key is not None:
        with _widget_lock:
            _widget_cache[key] = html
            if len(_widget_cache) > WIDGET_CACHE_SIZE:
                _widget_cache.popitem(last=False)
    return html


def install_widget_cache() -> None:
    """Route govuk-frontend-wtf's widget rendering through render_widget (once per process)."""
    from govuk_frontend_wtf.gov_form_base import GovFormBase

    GovFormBase.render = lambda self, params: render_widget(self.template, params)  # type: ignore[method-assign]
