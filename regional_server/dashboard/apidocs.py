"""``/docs``: the API's operations, rendered on the server from the OpenAPI schema.

Swagger UI needs a script and its assets from somewhere; this page needs neither, so
it stays within the pages' strict CSP (no script at all). Logged-in users only; the
machine-readable schema stays at ``/openapi.json``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from regional_server.auth.sessions import CurrentUser
from regional_server.web import render, require_user

router = APIRouter()
_METHODS = ("get", "post", "put", "patch", "delete")


@dataclass(frozen=True)
class Parameter:
    name: str
    where: str
    required: bool
    type: str


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    summary: str
    parameters: list[Parameter]
    body: str
    responses: list[str]


def operations(schema: dict[str, Any]) -> list[Operation]:
    """Every operation of an OpenAPI schema, in path order."""
    out: list[Operation] = []
    for path, item in sorted(schema.get("paths", {}).items()):
        for method in _METHODS:
            op = item.get(method)
            if not isinstance(op, dict):
                continue
            params = [
                Parameter(
                    str(p.get("name", "")),
                    str(p.get("in", "")),
                    bool(p.get("required", False)),
                    _type_of(p.get("schema", {})),
                )
                for p in op.get("parameters", [])
                if isinstance(p, dict)
            ]
            content = op.get("requestBody", {}).get("content", {})
            out.append(
                Operation(
                    method.upper(),
                    path,
                    str(op.get("summary", "")),
                    params,
                    ", ".join(sorted(content)),
                    sorted(str(code) for code in op.get("responses", {})),
                )
            )
    return out


def _type_of(schema: dict[str, Any]) -> str:
    if "type" in schema:
        kind = str(schema["type"])
        if kind == "array":
            return f"array of {_type_of(schema.get('items', {}))}"
        return kind
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return " | ".join(_type_of(s) for s in schema[key] if isinstance(s, dict))
    return "object"


@router.get("/docs", include_in_schema=False)
def api_docs(request: Request, user: Annotated[CurrentUser, Depends(require_user)]) -> Response:
    ops = operations(request.app.openapi())
    return render(request, "api_docs.html", {"operations": ops}, user=user)
