"""The registries' public APIs as sources of records (issue 19): an HTTP client that is polite
and patient, and the pages of ClinicalTrials.gov API v2 and of ISRCTN's API as records.

No Flask, no database: ``portal.services.registry_sync`` stores what these pages yield.

The client (httpx) has connect and read timeouts, a request rate of at most ``rate`` requests a
second, a User-Agent naming the portal, retries with exponential backoff and jitter on
connection errors, timeouts and 5xx answers, and honours 429 with its Retry-After. When the
retries are spent it raises ``FetchError`` with one plain line. A page whose body is not valid
JSON (or XML) is fetched again; if it is still broken it becomes a ``Rejected`` with the reason,
and none of its records are used (never half a page).

ClinicalTrials.gov API v2 (``GET {base}/studies``): pages of ``{"studies": [...],
"nextPageToken": ..., "totalCount": ...}``, asked for with ``pageSize`` (at most 1000),
``pageToken``, ``countTotal=true``; UK studies with ``query.locn``, a sponsor with
``query.spons``, given trials with ``filter.ids``, and changes since a date with
``filter.advanced=AREA[LastUpdatePostDate]RANGE[<from>,MAX]``.

ISRCTN (``GET {base}/query/format/default?q=...&limit=N``): XML ``<allTrials totalCount="N">
<fullTrial><trial>..</trial><sponsor>..</sponsor></fullTrial>...`` in the namespace
http://www.67bricks.com/isrctn, read by ``portal.registries.isrctn.read_xml``. The API has no
paging: records are asked for by windows of ``lastEdited`` dates (``lastEdited GE <from>T00:00:00
AND lastEdited LT <to>T00:00:00``); a window whose ``totalCount`` is more than the records it
returned is split in two. One trial: ``GET {base}/trial/<ISRCTN id>/format/default``.
"""

from __future__ import annotations

import email.utils
import io
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import orjson
from defusedxml import ElementTree as SafeET

from . import ctgov_v2, isrctn
from .model import Rejected, TrialRecord, safe_extract

log = logging.getLogger(__name__)

CTGOV_DEFAULT_URL = "https://clinicaltrials.gov/api/v2"
ISRCTN_DEFAULT_URL = "https://www.isrctn.com/api"
CTGOV_MAX_PAGE = 1000
ISRCTN_FIRST_DAY = date(2005, 11, 10)  # the earliest "last edited" date ISRCTN holds
ISRCTN_WINDOW_DAYS = 31
ISRCTN_LIMIT = 1000


class FetchError(Exception):
    """A registry could not be reached or refused the request; ``str()`` is one plain line."""


@dataclass
class ClientSettings:
    user_agent: str = "TrialTransparencyPortal/0.1 (registry sync)"
    rate: float = 3.0  # requests a second at most
    retries: int = 5  # further attempts after a failed one (5xx, 429, timeouts)
    connect_retries: int = 2  # further attempts when the host cannot be reached at all
    backoff: float = 1.0  # seconds: the first wait; doubled each retry, plus jitter
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    max_retry_after: float = 300.0
    bad_page_retries: int = 1  # further fetches of a page that is not valid JSON / XML


class RegistryClient:
    """GET with retries, backoff, jitter, Retry-After and a polite rate."""

    def __init__(
        self, settings: ClientSettings | None = None, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.settings = settings or ClientSettings()
        self.sleep = sleep
        self._lock = threading.Lock()
        self._next_at = 0.0
        self.requests = 0
        self.retried = 0
        self.http = httpx.Client(
            headers={"User-Agent": self.settings.user_agent},
            timeout=httpx.Timeout(
                self.settings.read_timeout, connect=self.settings.connect_timeout
            ),
            follow_redirects=True,
        )

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _wait_turn(self) -> None:
        interval = 1.0 / self.settings.rate if self.settings.rate > 0 else 0.0
        with self._lock:
            now = time.monotonic()
            wait = self._next_at - now
            self._next_at = max(now, self._next_at) + interval
        if wait > 0:
            self.sleep(wait)

    def _backoff(self, attempt: int) -> float:
        base = self.settings.backoff * (2 ** (attempt - 1))
        return base + random.uniform(0, self.settings.backoff)  # noqa: S311 - jitter

    def _retry_after(self, response: httpx.Response, attempt: int) -> float:
        value = (response.headers.get("Retry-After") or "").strip()
        seconds: float | None = None
        if value.isdigit():
            seconds = float(value)
        elif value:
            try:
                when = email.utils.parsedate_to_datetime(value)
                seconds = (when - datetime.now(UTC)).total_seconds()
            except (TypeError, ValueError):
                seconds = None
        if seconds is None:
            seconds = self._backoff(attempt)
        return max(0.0, min(seconds, self.settings.max_retry_after))

    def _fetch(self, url: str, params: dict[str, Any] | None) -> tuple[httpx.Response, Any]:
        """The response and, for a 200, its body read in chunks into one buffer (a page of a
        thousand studies is tens of megabytes: never held twice)."""
        with self.http.stream("GET", url, params=params) as response:
            if response.status_code != 200:
                response.read()
                return response, b""
            body = bytearray()
            for chunk in response.iter_bytes(1024 * 1024):
                body += chunk
            return response, body

    def get(self, url: str, params: dict[str, Any] | None = None, *, what: str = "") -> bytes:
        """The body of a 200 answer; FetchError when the retries are spent or the registry
        refuses the request (4xx other than 429)."""
        label = what or url
        attempt = 0
        connect_failures = 0
        while True:
            self._wait_turn()
            self.requests += 1
            try:
                response, body = self._fetch(url, params)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                connect_failures += 1
                if connect_failures > self.settings.connect_retries:
                    raise FetchError(
                        f"{label}: the registry could not be reached ({_reason(exc)})"
                    ) from None
                problem, wait = _reason(exc), self._backoff(connect_failures)
            except httpx.TransportError as exc:  # read timeout, connection dropped, ...
                attempt += 1
                if attempt > self.settings.retries:
                    raise FetchError(
                        f"{label}: {_reason(exc)}, retried {attempt - 1} times"
                    ) from None
                problem, wait = _reason(exc), self._backoff(attempt)
            else:
                status = response.status_code
                if status == 200:
                    return body
                attempt += 1
                if status == 429 or status >= 500:
                    if attempt > self.settings.retries:
                        raise FetchError(
                            f"{label}: the registry answered {status} "
                            f"{response.reason_phrase}, retried {attempt - 1} times"
                        )
                    problem = f"{status} {response.reason_phrase}"
                    wait = (
                        self._retry_after(response, attempt)
                        if status == 429 or "Retry-After" in response.headers
                        else self._backoff(attempt)
                    )
                else:
                    raise FetchError(
                        f"{label}: the registry refused the request "
                        f"({status} {response.reason_phrase})"
                    )
            self.retried += 1
            log.info("%s: %s; trying again in %.1f s", label, problem, wait)
            self.sleep(wait)


def _reason(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    kind = {
        httpx.ConnectError: "connection failed",
        httpx.ConnectTimeout: "connection timed out",
        httpx.ReadTimeout: "no answer in time",
    }.get(type(exc), type(exc).__name__)
    return f"{kind}: {text}"[:300] if text else kind


# --------------------------------------------------------------------------- pages


@dataclass
class Page:
    """One answer of a registry: its records (or one Rejected for a broken page), where it was
    asked from (``key``: what to ask again to get it) and what to ask next (None: the end)."""

    key: str
    name: str
    records: list[TrialRecord | Rejected]
    next_key: str | None
    total: int | None = None
    broken: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def _with_retries(client: RegistryClient, fetch: Callable[[], bytes], parse, name: str):
    """Fetch and parse; a body that does not parse is fetched again, then given up on."""
    problem = ""
    for _ in range(client.settings.bad_page_retries + 1):
        body = fetch()
        try:
            return parse(body), None
        except ValueError as exc:
            problem = str(exc)
            log.info("%s: not readable (%s)", name, problem)
    return None, problem


# ----------------------------------------------------------------- ClinicalTrials.gov


def ctgov_params(
    *,
    since: date | None = None,
    location: str | None = None,
    sponsor: str | None = None,
    ids: list[str] | None = None,
    page_size: int = CTGOV_MAX_PAGE,
) -> dict[str, str]:
    """The query of one ClinicalTrials.gov stream (without its page token)."""
    params = {"format": "json", "pageSize": str(min(max(page_size, 1), CTGOV_MAX_PAGE))}
    params["countTotal"] = "true"
    if location:
        params["query.locn"] = location
    if sponsor:
        params["query.spons"] = sponsor
    if ids:
        params["filter.ids"] = ",".join(ids)
    if since is not None:
        params["filter.advanced"] = f"AREA[LastUpdatePostDate]RANGE[{since.isoformat()},MAX]"
    return params


def _ctgov_page(body: bytes) -> dict[str, Any]:
    quick = ctgov_v2.quick_page(body)
    if quick is not None:
        studies, token, total = quick
        return {"studies": studies, "nextPageToken": token, "totalCount": total}
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"the page is not valid JSON ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("studies", []), list):
        raise ValueError("the page is not a ClinicalTrials.gov API v2 page (no list of studies)")
    return doc


def ctgov_pages(
    client: RegistryClient,
    base_url: str,
    params: dict[str, str],
    *,
    token: str | None = None,
    label: str = "ClinicalTrials.gov",
    first_number: int = 1,
) -> Iterator[Page]:
    """Every page of one query from ``token`` (None: the first page) to the end."""
    url = base_url.rstrip("/") + "/studies"
    number = first_number
    asked: set[str] = {token} if token else set()
    while True:
        name = f"{label} page {number}"
        query = dict(params)
        if token:
            query["pageToken"] = token
        doc, problem = _with_retries(
            client, lambda q=query, n=name: client.get(url, q, what=n), _ctgov_page, name
        )
        key = token or ""
        if doc is None:
            yield Page(key, name, [Rejected(name, "", problem)], None, broken=True)
            return
        records: list[TrialRecord | Rejected] = []
        studies = doc.get("studies") or []
        for index, study in enumerate(studies, start=1):
            studies[index - 1] = None  # each study's objects freed as soon as it is read
            if not isinstance(study, dict):
                records.append(Rejected(name, f"study {index}", "study is not a JSON object"))
                continue
            nct = ((study.get("protocolSection") or {}).get("identificationModule") or {}).get(
                "nctId"
            )
            where = f"study {index} ({nct})" if isinstance(nct, str) else f"study {index}"
            records.append(safe_extract(ctgov_v2.extract, name, where, study, name, where))
        next_token = doc.get("nextPageToken") or None
        total = doc.get("totalCount")
        yield Page(key, name, records, next_token, total if isinstance(total, int) else None)
        if not next_token:
            return
        if str(next_token) in asked:  # a registry that pages in a circle: stop, say so
            problem = f"the registry gave the page token {str(next_token)[:40]!r} twice"
            yield Page(str(next_token), name, [Rejected(name, "", problem)], None, broken=True)
            return
        token = str(next_token)
        asked.add(token)
        number += 1


# ----------------------------------------------------------------- ISRCTN


def _isrctn_xml(body: bytes) -> tuple[bytes, int | None]:
    try:
        root = SafeET.fromstring(body)
    except Exception as exc:  # ParseError, defusedxml's refusals
        raise ValueError(f"the page is not valid XML ({type(exc).__name__}: {exc})") from None
    if not root.tag.endswith("allTrials") and not root.tag.endswith("fullTrial"):
        raise ValueError(f"the page is not an ISRCTN API answer (its root is {root.tag})")
    total = root.get("totalCount")
    return body, int(total) if total and total.isdigit() else None


def _isrctn_records(body: bytes, name: str) -> list[TrialRecord | Rejected]:
    return list(isrctn.read_xml(io.BytesIO(body), name))


def isrctn_query(start: date, end: date, country: str | None) -> str:
    """ISRCTN's query for records last edited in [start, end), in one country if given."""
    text = (
        f"lastEdited GE {start.isoformat()}T00:00:00 AND lastEdited LT {end.isoformat()}T00:00:00"
    )
    if country:
        text += f' AND recruitmentCountry:"{country}"'
    return text


def isrctn_windows(
    client: RegistryClient,
    base_url: str,
    *,
    since: date | None,
    until: date,
    country: str | None,
    resume_from: date | None = None,
    window_days: int = ISRCTN_WINDOW_DAYS,
    limit: int = ISRCTN_LIMIT,
) -> Iterator[Page]:
    """Records last edited from ``since`` (or ISRCTN's first day) to ``until`` (inclusive),
    window by window; a page's key is its window's first day (what a resumed sync starts from)."""
    url = base_url.rstrip("/") + "/query/format/default"
    start = resume_from or since or ISRCTN_FIRST_DAY
    end_all = until + timedelta(days=1)
    pending: list[tuple[date, date]] = []
    while start < end_all or pending:
        if pending:
            lo, hi = pending.pop()
        else:
            lo, hi = start, min(start + timedelta(days=window_days), end_all)
            start = hi
        last = hi - timedelta(days=1)
        name = f"ISRCTN records last edited {lo.isoformat()} to {last.isoformat()}"
        params = {"q": isrctn_query(lo, hi, country), "limit": str(limit)}
        parsed, problem = _with_retries(
            client, lambda p=params, n=name: client.get(url, p, what=n), _isrctn_xml, name
        )
        following = pending[-1][0] if pending else (start if start < end_all else None)
        next_key = following.isoformat() if following else None
        if parsed is None:
            yield Page(lo.isoformat(), name, [Rejected(name, "", problem)], next_key, broken=True)
            continue
        body, total = parsed
        records = _isrctn_records(body, name)
        if total is not None and total > len(records) and (hi - lo).days > 1:
            middle = lo + (hi - lo) / 2
            pending.extend([(middle, hi), (lo, middle)])  # the earlier half first
            continue
        yield Page(lo.isoformat(), name, records, next_key, total)


def isrctn_trial(client: RegistryClient, base_url: str, trial_id: str) -> Page:
    """One ISRCTN record by its id."""
    url = f"{base_url.rstrip('/')}/trial/{trial_id}/format/default"
    name = f"ISRCTN record {trial_id}"
    parsed, problem = _with_retries(client, lambda: client.get(url, what=name), _isrctn_xml, name)
    if parsed is None:
        return Page(trial_id, name, [Rejected(name, "", problem)], None, broken=True)
    return Page(trial_id, name, _isrctn_records(parsed[0], name), None, parsed[1])
