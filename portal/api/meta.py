"""The OpenAPI document and a documentation page made from it (no external assets: the
Content-Security-Policy allows only our own)."""

from __future__ import annotations

import orjson
from flask import Blueprint, Response, current_app, render_template

from portal import access
from portal.api import PREFIX

# A plain blueprint: the document and its page are public and are not operations of the API.
bp = Blueprint("api_docs", __name__, url_prefix=PREFIX)


def document() -> dict:
    return current_app.extensions["portal-api"].spec.to_dict()


@bp.route("/openapi.json")
@access.public
def openapi_json():
    response = Response(orjson.dumps(document()), content_type="application/json")
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@bp.route("/docs")
@access.public
def docs():
    spec = document()
    operations = []
    for path, item in spec.get("paths", {}).items():
        for method, op in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            operations.append(
                {
                    "method": method.upper(),
                    "path": path,
                    "summary": op.get("summary", ""),
                    "description": op.get("description", ""),
                    "parameters": [
                        {
                            "name": p["name"],
                            "where": p["in"],
                            "text": p.get("description", ""),
                            "schema": p.get("schema", {}),
                        }
                        for p in op.get("parameters", [])
                    ],
                    "responses": sorted(op.get("responses", {})),
                    "needs_scope": method == "post",
                }
            )
    return render_template("api/docs.html", spec=spec, operations=operations, prefix=PREFIX)
