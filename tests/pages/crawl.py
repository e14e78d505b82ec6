"""Crawl every page a signed-in user can reach by following links, and read its visible text."""

from __future__ import annotations

import re
from collections import deque
from html.parser import HTMLParser
from urllib.parse import urldefrag, urlsplit

SKIP_TAGS = {"script", "style", "head", "template", "noscript", "svg"}
# Links that are not pages: signing out, files, feeds, assets.
SKIP_PATHS = re.compile(
    r"^/(logout|static/|assets/|calendar/.+\.ics|healthz)|\.(pdf|csv|ics|txt|docx|json|png)$"
    r"|/download|/file|/export"
    # The API's documentation is for programmers: parameter names are code (issue 21).
    r"|^/api/"
)


class PageText(HTMLParser):
    """Visible text (screen-reader-only text included) and the links of one page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.skip = 0
        self.parts: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in SKIP_TAGS:
            self.skip += 1
        if tag == "a":
            href = dict(attrs).get("href")
            if href:
                self.links.append(href)

    def handle_endtag(self, tag):
        if tag in SKIP_TAGS and self.skip:
            self.skip -= 1

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data)

    @property
    def text(self) -> str:
        return re.sub(r"\s+", " ", " ".join(self.parts))


def read(html: str) -> PageText:
    parser = PageText()
    parser.feed(html)
    return parser


def _pattern(path: str) -> str:
    return re.sub(r"\d+", "N", urlsplit(path).path) + ("?" if urlsplit(path).query else "")


def crawl(get, start: str = "/", limit: int = 250, per_pattern: int = 4, extra=()):
    """Yield (path, status, PageText) for pages reachable from ``start`` through ``get``.

    At most ``per_pattern`` pages of the same shape (ids replaced) are visited."""
    seen: set[str] = set()
    shapes: dict[str, int] = {}
    queue: deque[str] = deque([start, *extra])
    while queue and len(seen) < limit:
        path = queue.popleft()
        if path in seen:
            continue
        shape = _pattern(path)
        if shapes.get(shape, 0) >= per_pattern:
            continue
        shapes[shape] = shapes.get(shape, 0) + 1
        seen.add(path)
        status, html = get(path)
        page = read(html) if status == 200 else read("")
        yield path, status, page
        for href in page.links:
            href = urldefrag(href)[0]
            parts = urlsplit(href)
            if parts.scheme or parts.netloc or not parts.path.startswith("/"):
                continue
            if SKIP_PATHS.search(parts.path):
                continue
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            if target not in seen:
                queue.append(target)


URL_OR_EMAIL = re.compile(r"https?://\S+|\S+@\S+\.\w+|\bwww\.\S+")
PROBLEMS = {
    "snake_case word": re.compile(r"\b[a-z0-9]+(?:_[a-z0-9]+)+\b"),
    "ISO date": re.compile(r"(?<![\w-])(?:19|20)\d{2}-(?:0[1-9]|1[0-2])(?:-\d{2})?\b(?!-)"),
    '"None"': re.compile(r"\bNone\b"),
    "RULES.md": re.compile(r"RULES\.md"),
}


def problems(text: str) -> list[str]:
    """Internal words, ISO dates, "None" or the spec's file name in a page's visible text."""
    clean = URL_OR_EMAIL.sub(" ", text)
    found = []
    for name, pattern in PROBLEMS.items():
        for m in pattern.finditer(clean):
            found.append(f"{name}: …{clean[max(0, m.start() - 60) : m.end() + 40]}…")
    return found
