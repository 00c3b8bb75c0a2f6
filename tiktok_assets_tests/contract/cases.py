"""Contract cases: real-shaped TikTok answers, re-typed from public recordings, and a transport that replays them.

Each ``responses/*.json`` file is one case. It names its ``source`` (repository
and path, or TikTok doc page) and holds either one exchange at top level
(``request``, ``status``, ``headers``, ``body`` or ``body_text``) or several in
``exchanges`` (a paged listing, an error then its retry). ``expected`` holds
what the case means, written from the source, never from our code.

A list written as ``{"$repeat": {"count": N, "row": {...}, "ids": {"dimensions.ad_id": first}}}``
expands to N copies of ``row`` whose named ids count up from ``first`` (kept a
string or a JSON number as written): a 1000-row page stays a readable file.

:class:`ReplayTransport` is the oracle of the client tests: it answers each
request with the recorded exchange whose method, path and listed query values
match, and records every request it saw. A request no exchange matches fails
the test loudly, with what was asked and what the case holds.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

RESPONSES = Path(__file__).parent / "responses"
# Substituted in bodies by tests that check a secret never leaks: TikTok echoing the caller's token or app secret.
TOKEN_PLACEHOLDER = "{ACCESS_TOKEN}"
SECRET_PLACEHOLDER = "{APP_SECRET}"


@dataclass(frozen=True)
class Exchange:
    method: str
    path: str
    query: Mapping[str, Any]
    """Query values the request must carry (others are free): strings compare as text, lists/dicts as JSON."""
    status: int
    headers: Mapping[str, str]
    body: Any = None
    body_text: str | None = None

    def content(self, token: str | None = None, secret: str | None = None) -> bytes:
        text = self.body_text if self.body_text is not None else json.dumps(self.body, separators=(",", ":"))
        if token is not None:
            text = text.replace(TOKEN_PLACEHOLDER, token)
        if secret is not None:
            text = text.replace(SECRET_PLACEHOLDER, secret)
        return text.encode()

    def matches(self, method: str, path: str, query: Mapping[str, str]) -> bool:
        if method != self.method or _normal(path) != _normal(self.path):
            return False
        for name, wanted in self.query.items():
            got = query.get(name)
            if got is None:
                return False
            if isinstance(wanted, (list, dict)):
                try:
                    if json.loads(got) != wanted:
                        return False
                except ValueError:
                    return False
            elif got != str(wanted):
                return False
        return True


@dataclass(frozen=True)
class Case:
    name: str
    source: str
    description: str
    exchanges: tuple[Exchange, ...]
    expected: Mapping[str, Any]
    raw: Mapping[str, Any]

    @property
    def first(self) -> Exchange:
        return self.exchanges[0]

    @property
    def metrics(self) -> list[str]:
        """The report metrics the recorded request asked for (report cases)."""
        if "metrics" in self.raw:
            return list(self.raw["metrics"])
        rows = self.rows()
        return list(rows[0]["metrics"]) if rows else []

    def rows(self) -> list[dict[str, Any]]:
        """Every ``data.list`` row of the successful exchanges, in order."""
        rows: list[dict[str, Any]] = []
        for exchange in self.exchanges:
            body = exchange.body
            if isinstance(body, dict) and body.get("code") == 0:
                rows.extend((body.get("data") or {}).get("list") or [])
        return rows


def load_case(name: str) -> Case:
    path = RESPONSES / f"{name}.json"
    raw = json.loads(path.read_text())
    if not raw.get("source"):
        raise ValueError(f"contract case {path.name} names no source")
    listed = raw.get("exchanges") or [
        {key: raw[key] for key in ("request", "status", "headers", "body", "body_text") if key in raw}
    ]
    exchanges = []
    for item in listed:
        request = item["request"]
        exchanges.append(Exchange(
            method=request.get("method", "GET"),
            path=request["path"],
            query=request.get("query", {}),
            status=item["status"],
            headers=item.get("headers", {}),
            body=_expand(item["body"]) if "body" in item else None,
            body_text=item.get("body_text"),
        ))
    return Case(name, raw["source"], raw.get("description", ""), tuple(exchanges), raw.get("expected", {}), raw)


def case_names() -> list[str]:
    return sorted(path.stem for path in RESPONSES.glob("*.json"))


def load_all() -> list[Case]:
    return [load_case(name) for name in case_names()]


def _expand(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"$repeat"}:
            return _repeat(**value["$repeat"])
        return {key: _expand(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_expand(item) for item in value]
    return value


def _repeat(count: int, row: Mapping[str, Any], ids: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    rows = []
    for index in range(count):
        item = copy.deepcopy(dict(row))
        for dotted, first in (ids or {}).items():
            *parents, leaf = dotted.split(".")
            target = item
            for parent in parents:
                target = target[parent]
            number = int(first) + index
            target[leaf] = str(number) if isinstance(first, str) else number
        rows.append(item)
    return rows


def _normal(path: str) -> str:
    return "/" + path.strip("/") + "/"


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]

    def json_param(self, name: str) -> Any:
        value = self.query.get(name)
        return None if value is None else json.loads(value)


class ReplayMismatch(AssertionError):
    """The code under test asked for something the recording does not hold."""


@dataclass
class ReplayTransport(httpx.BaseTransport):
    """Serves the recorded exchanges of ``cases`` for matching requests; ``requests`` lists what was asked.

    Each exchange answers once, in file order; once every matching exchange has
    answered, the last one keeps answering (an error that persists through
    every retry). ``token`` replaces ``{ACCESS_TOKEN}`` in bodies, ``secret`` ``{APP_SECRET}``.
    """

    cases: Iterable[Case]
    token: str | None = None
    secret: str | None = None
    requests: list[RecordedRequest] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._exchanges = [exchange for case in self.cases for exchange in case.exchanges]
        self._used = [False] * len(self._exchanges)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        query = dict(request.url.params.multi_items())
        recorded = RecordedRequest(request.method, request.url.path, query, dict(request.headers))
        self.requests.append(recorded)
        matching = [index for index, exchange in enumerate(self._exchanges)
                    if exchange.matches(request.method, request.url.path, query)]
        if not matching:
            held = "; ".join(f"{e.method} {e.path} {dict(e.query)}" for e in self._exchanges)
            raise ReplayMismatch(f"No recorded exchange for {request.method} {request.url.path} {query}; the "
                                 f"recording holds: {held}")
        index = next((i for i in matching if not self._used[i]), matching[-1])
        self._used[index] = True
        exchange = self._exchanges[index]
        return httpx.Response(exchange.status, headers=dict(exchange.headers), content=exchange.content(self.token, self.secret),
                              request=request)

    def paths(self) -> list[str]:
        return [request.path for request in self.requests]


# -- shape signatures -----------------------------------------------------------------------------

ABSENT = "absent"


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    raise TypeError(f"not a JSON value: {value!r}")


def shape_signature(value: Any, path: str = "$") -> dict[str, frozenset[str]]:
    """Every key path of a JSON value and the JSON types seen there.

    List items share one path (``[]``). A key some items of a list have and
    others lack gets the extra type ``absent``, so "some ads lack
    modify_time" is part of the shape.
    """
    found: dict[str, set[str]] = {}
    _walk(value, path, found)
    return {key: frozenset(types) for key, types in found.items()}


def _walk(value: Any, path: str, found: dict[str, set[str]]) -> None:
    found.setdefault(path, set()).add(json_type(value))
    if isinstance(value, dict):
        for key, item in value.items():
            _walk(item, f"{path}.{key}", found)
    elif isinstance(value, list):
        item_path = f"{path}[]"
        for item in value:
            _walk(item, item_path, found)
        objects = [item for item in value if isinstance(item, dict)]
        if objects:
            keys = set().union(*objects)
            for key in keys:
                if any(key not in item for item in objects):
                    found.setdefault(f"{item_path}.{key}", set()).add(ABSENT)
