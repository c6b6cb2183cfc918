"""One table of routes: the app is built from it and the OpenAPI 3.1 document generated from
it, so the two cannot drift. Handlers validate their query strings and bodies with the same
pydantic models the document names (a bad value answers 400, never 500)."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema

from api.models import Error
from orchestrator.config.base import problems

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
M = TypeVar("M", bound=BaseModel)
VERSION = "1.0.0"
ERRORS = {400: "Bad request: the message says what", 401: "Not logged in, or a bad token",
          403: "Role too low, or a write without the CSRF token", 404: "No such thing",
          409: "Based on a stale version, or it exists", 413: "Body too large",
          429: "Too many failed logins", 503: "A service behind the API is unreachable"}


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # aiohttp pattern; {name} or {name:regex}
    handler: Handler
    summary: str
    tag: str
    role: str | None = None  # None: no login needed
    query: type[BaseModel] | None = None
    body: type[BaseModel] | str | None = None  # a model, or a content type of raw bytes
    response: type[BaseModel] | None = None  # JSON body of the success answer
    content: str = "application/json"  # of the success answer when it is not a model
    status: int = 200
    errors: tuple[int, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)  # merged into the operation
    # OpenAPI links of the success answer: name → (operationId, {parameter: expression});
    # they tell clients (and Schemathesis' stateful phase) what an answer leads to.
    links: dict[str, tuple[str, dict[str, str]]] = field(default_factory=dict)


def parse_query(request: web.Request, model: type[M]) -> M:
    try:
        return model.model_validate({k: request.query.getone(k) for k in request.query})
    except ValidationError as e:
        raise web.HTTPBadRequest(text=problems(e, 'body')) from None


async def parse_body(request: web.Request, model: type[M]) -> M:
    try:
        raw = await request.read()
        return model.model_validate_json(raw or b"{}")
    except ValidationError as e:
        raise web.HTTPBadRequest(text=problems(e, 'body')) from None


def _path(pattern: str) -> tuple[str, list[str]]:
    names: list[str] = []

    def one(m: re.Match[str]) -> str:
        names.append(m.group(1))
        return "{" + m.group(1) + "}"

    return re.sub(r"\{(\w+)(?::[^}]*)?\}", one, pattern), names


def document(routes: list[Route], title: str = "PeriShield API") -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``routes``."""
    models: set[type[BaseModel]] = {Error}
    for r in routes:
        for m in (r.query, r.body, r.response):
            if isinstance(m, type):
                models.add(m)
    modes: tuple[Literal["validation"], Literal["serialization"]] = ("validation",
                                                                     "serialization")
    keyed = [(m, mode) for m in sorted(models, key=lambda m: m.__name__) for mode in modes]
    refs, defs = models_json_schema(keyed, ref_template="#/components/schemas/{model}")
    schemas = defs.get("$defs", {})

    def ref(m: type[BaseModel], mode: str) -> dict[str, Any]:
        return dict(refs[(m, mode)])  # type: ignore[index]

    paths: dict[str, dict[str, Any]] = {}
    for r in routes:
        path, names = _path(r.path)
        module = r.handler.__module__.rsplit(".", 1)[-1]
        op: dict[str, Any] = {"summary": r.summary, "tags": [r.tag], "operationId":
                              f"{module}_{r.handler.__name__}_{r.method.lower()}"}
        params: list[dict[str, Any]] = [
            {"name": n, "in": "path", "required": True,
             "schema": {"type": "string", "minLength": 1, "maxLength": 1000}} for n in names]
        if r.query is not None:
            qs = r.query.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(qs.get("$defs", {}))
            for fname, f in r.query.model_fields.items():
                name = f.alias or fname
                params.append({"name": name, "in": "query", "required": f.is_required(),
                               "description": f.description or "",
                               "schema": qs["properties"][name]})
        if params:
            op["parameters"] = params
        if r.body is not None:
            if isinstance(r.body, str):
                op["requestBody"] = {"required": True, "content": {
                    t: {"schema": {"type": "string", "format": "binary"}}
                    for t in r.body.split(",")}}
            else:
                op["requestBody"] = {"required": True, "content": {
                    "application/json": {"schema": ref(r.body, "validation")}}}
        ok: dict[str, Any] = {"description": "OK"}
        if r.response is not None:
            ok["content"] = {"application/json": {"schema": ref(r.response, "serialization")}}
        elif r.content != "application/json":
            ok["content"] = {t: {"schema": {"type": "string", "format": "binary"}}
                             for t in r.content.split(",")}
        if r.links:
            ok["links"] = {name: {"operationId": target, "parameters": params}
                           for name, (target, params) in r.links.items()}
        responses: dict[str, Any] = {str(r.status): ok}
        codes = set(r.errors) | {503}
        if r.query is not None or r.body is not None or names:
            codes.add(400)
        if r.role is not None:
            codes |= {401, 403}
        if r.body is not None:
            codes.add(413)
        for c in sorted(codes):
            responses[str(c)] = {"description": ERRORS[c], "content": {
                "application/json": {"schema": ref(Error, "serialization")}}}
        if 400 in codes:  # aiohttp's HTTP parser refuses an over-long request line in text
            responses["400"]["content"]["text/plain"] = {"schema": {"type": "string"}}
        op["responses"] = responses
        op["security"] = ([] if r.role is None
                          else [{"session": [], "csrf": []}, {"token": []}])
        if r.role is not None:
            op["description"] = f"Needs the **{r.role}** role."
        op.update(r.extra)
        paths.setdefault(path, {})[r.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": VERSION,
                 "description": "The operators' API of PeriShield. Browsers log in "
                                "(POST /api/v1/login) and send the CSRF token on writes; "
                                "machines send `Authorization: Bearer <token>`."},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": {
            "session": {"type": "apiKey", "in": "cookie", "name": "perishield_session"},
            "csrf": {"type": "apiKey", "in": "header", "name": "X-CSRF-Token"},
            "token": {"type": "http", "scheme": "bearer"}}},
    }


def json_text(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=1, default=str)
