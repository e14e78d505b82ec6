"""A stand-in for the registries' APIs: a real local HTTP server in a thread, serving studies in
the shapes of ClinicalTrials.gov API v2 (JSON pages with nextPageToken) and ISRCTN's API (XML),
with scripted faults: 503, 429 + Retry-After, a slow answer (a read timeout), a malformed page,
a hanging page (to stop a sync in the middle) and a connection that is refused."""

from __future__ import annotations

import copy
import json
import re
import threading
import time
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse
from xml.sax.saxutils import escape

RANGE = re.compile(r"AREA\[LastUpdatePostDate\]RANGE\[(\d{4}-\d{2}-\d{2}),MAX\]")
EDITED = re.compile(
    r"lastEdited GE (\d{4}-\d{2}-\d{2})T00:00:00 AND lastEdited LT (\d{4}-\d{2}-\d{2})"
)


def study_id(study: dict) -> str:
    return study["protocolSection"]["identificationModule"]["nctId"]


def study_updated(study: dict) -> str:
    status = study["protocolSection"].get("statusModule") or {}
    return (status.get("lastUpdatePostDateStruct") or {}).get("date") or "2000-01-01"


def load_ctgov_samples(samples: Path) -> list[dict]:
    """Every CT.gov v2 study of the shared samples."""
    studies = []
    for path in sorted((samples / "ctgov-v2-json").rglob("*.json")):
        doc = json.loads(path.read_text("utf-8"))
        if isinstance(doc, dict) and "protocolSection" in doc:
            studies.append(doc)
    return studies


def _element(tag: str, value: Any) -> str:
    if isinstance(value, dict):
        return f"<{tag}>" + "".join(_element(k, v) for k, v in value.items()) + f"</{tag}>"
    if isinstance(value, list):
        return "".join(_element(tag, v) for v in value)
    return f"<{tag}>{escape(str(value))}</{tag}>"


def isrctn_full_trial(raw: dict, last_updated: str, sponsor: str) -> str:
    """An ISRCTN API ``fullTrial`` element built from ctrdata's JSON of the same record (it
    keeps the XML's element names), with the attributes and sponsor the API adds."""
    skip = ("isrctn", "ctrname", "record_last_import")
    body = "".join(_element(k, v) for k, v in raw.items() if k not in skip)
    return (
        f'<fullTrial><trial lastUpdated="{last_updated}T10:00:00Z" version="1">'
        f'<isrctn dateAssigned="2020-01-01T00:00:00Z">{raw["isrctn"]}</isrctn>{body}</trial>'
        f"<sponsor><organisation>{escape(sponsor)}</organisation></sponsor></fullTrial>"
    )


def load_isrctn_samples(samples: Path) -> list[dict]:
    out = []
    for path in sorted((samples / "isrctn" / "ctrdata-demo-json").glob("*.json")):
        out.append(json.loads(path.read_text("utf-8")))
    return out


class StandIn:
    """``url`` is the CT.gov base (…/api/v2); ``isrctn_url`` ISRCTN's (…/isrctn/api)."""

    def __init__(self) -> None:
        self.studies: list[dict] = []
        self.isrctn: list[tuple[str, str, str]] = []  # (id digits, last edited, fullTrial XML)
        self.faults: list[tuple[str, Any]] = []  # scripted answers, one per request, in order
        self.bad_tokens: dict[str, str] = {}  # page token -> fault served every time
        self.ignore_filters = False
        self.max_page = 1000
        self.requests: list[dict[str, Any]] = []
        self.hang = threading.Event()  # set: a "hang" fault waits until released
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.cache: dict[tuple[str, int], bytes] = {}
        server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        server.daemon_threads = True
        self.server = server
        self.thread = threading.Thread(target=server.serve_forever, daemon=True)
        self.thread.start()
        port = server.server_address[1]
        self.url = f"http://127.0.0.1:{port}/api/v2"
        self.isrctn_url = f"http://127.0.0.1:{port}/isrctn/api"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    # ------------------------------------------------------------ data

    def set_studies(self, studies: list[dict]) -> None:
        with self.lock:
            self.studies = sorted(studies, key=study_id)
            self.cache.clear()

    def change_study(self, nct: str, title: str, updated: str) -> None:
        with self.lock:
            for i, study in enumerate(self.studies):
                if study_id(study) == nct:
                    study = copy.deepcopy(study)
                    ident = study["protocolSection"]["identificationModule"]
                    ident["briefTitle"] = title
                    ident["officialTitle"] = title
                    status = study["protocolSection"].setdefault("statusModule", {})
                    status["lastUpdatePostDateStruct"] = {"date": updated, "type": "ACTUAL"}
                    self.studies[i] = study
            self.cache.clear()

    # ------------------------------------------------------------ answers

    def _ctgov(self, query: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        size = min(int(query.get("pageSize", "10")), self.max_page)
        offset = int((query.get("pageToken") or "p0")[1:])
        with self.lock:
            chosen = self.studies
            if not self.ignore_filters:
                found = RANGE.search(query.get("filter.advanced", ""))
                if found:
                    chosen = [s for s in chosen if study_updated(s) >= found.group(1)]
                if "filter.ids" in query:
                    wanted = set(query["filter.ids"].split(","))
                    chosen = [s for s in chosen if study_id(s) in wanted]
            page = chosen[offset : offset + size]
            doc: dict[str, Any] = {"studies": page}
            if offset + size < len(chosen):
                doc["nextPageToken"] = f"p{offset + size}"
            if query.get("countTotal") == "true":
                doc["totalCount"] = len(chosen)
        return 200, {"Content-Type": "application/json"}, json.dumps(doc).encode()

    def _isrctn(self, path: str, query: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        head = '<?xml version="1.0" encoding="UTF-8"?>'
        ns = 'xmlns="http://www.67bricks.com/isrctn"'
        with self.lock:
            if path.startswith("/isrctn/api/trial/"):
                wanted = path.split("/")[4].removeprefix("ISRCTN")
                chosen = [t for t in self.isrctn if t[0] == wanted]
            else:
                chosen = self.isrctn
                found = EDITED.search(query.get("q", ""))
                if found and not self.ignore_filters:
                    lo, hi = found.groups()
                    chosen = [t for t in chosen if lo <= t[1] < hi]
            limit = int(query.get("limit", "100"))
            body = "".join(t[2] for t in chosen[:limit])
        xml = f'{head}<allTrials {ns} totalCount="{len(chosen)}">{body}</allTrials>'
        return 200, {"Content-Type": "application/xml"}, xml.encode()

    def _handler(self):
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                parsed = urlparse(self.path)
                query = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
                with standin.lock:
                    standin.requests.append(
                        {
                            "path": parsed.path,
                            "query": query,
                            "agent": self.headers.get("User-Agent"),
                            "at": time.monotonic(),
                        }
                    )
                    fault = standin.faults.pop(0) if standin.faults else None
                    token = query.get("pageToken")
                    if fault is None and token in standin.bad_tokens:
                        fault = (standin.bad_tokens[token], None)
                if fault is not None and self._fault(*fault):
                    return
                if parsed.path.startswith("/isrctn/"):
                    status, headers, body = standin._isrctn(parsed.path, query)
                else:
                    status, headers, body = standin._ctgov(query)
                self._send(status, headers, body)

            def _fault(self, kind: str, value: Any) -> bool:
                if kind == "503":
                    self._send(503, {}, b"Service Unavailable")
                elif kind == "429":
                    self._send(429, {"Retry-After": str(value or 1)}, b"Too Many Requests")
                elif kind == "slow":  # longer than the client's read timeout
                    time.sleep(value)
                    return False
                elif kind == "malformed":
                    self._send(200, {"Content-Type": "application/json"}, b'{"studies": [{"pro')
                elif kind == "hang":
                    standin.hang.set()
                    standin.release.wait(60)
                    self._send(503, {}, b"stopped")
                else:
                    return False
                return True

            def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
                try:
                    self.send_response(status)
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        return Handler


def today_iso() -> str:
    return date.today().isoformat()
