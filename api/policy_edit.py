"""Read-modify-validate-commit of the policy document, safe against concurrent admins.

Every change is compiled with :func:`antibot.detect.policy_doc.ruleset_from_doc` (a bad one is a
422 carrying the :class:`RuleError` message) and committed by ``Store.commit_policy``, which
in one MULTI/EXEC bumps the version, appends the history and audit entries and publishes the
version, only if nobody changed the policy since it was read. A request with ``If-Match``
fails with 412 on such a race; one without it re-reads and re-applies its change.
"""

from __future__ import annotations

import asyncio
import copy
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException, Response

from antibot.detect.policy_doc import LIST_KINDS, default_doc, ruleset_from_doc
from antibot.detect.rules import RuleError
from antibot.store.redis import Store

from .auth import Principal

MAX_ATTEMPTS = 16


@dataclass(frozen=True, slots=True)
class Edit:
    """What a mutation did, for the audit log."""

    action: str
    detail: str


Mutation = Callable[[dict[str, Any]], Edit | None]


def normalise(doc: dict[str, Any] | None) -> dict[str, Any]:
    """The stored document with every field the API reads present (defaults filled in)."""
    out = default_doc()
    if doc is None:
        return out
    lists = doc.get("lists")
    out.update(doc)
    out["lists"] = {kind: {t: _entries(lists, kind, t) for t in LIST_KINDS} for kind in ("allow", "deny")}
    if not isinstance(out.get("rules"), list):
        out["rules"] = []
    version = out.get("version")
    out["version"] = version if isinstance(version, int) and not isinstance(version, bool) and version >= 0 else 0
    return out


def _entries(lists: Any, kind: str, list_type: str) -> list[str]:
    entries = lists.get(kind) if isinstance(lists, dict) else None
    values = entries.get(list_type) if isinstance(entries, dict) else None
    return [str(v) for v in values] if isinstance(values, list) else []


async def load_policy(store: Store) -> dict[str, Any]:
    return normalise(await store.get_policy())


def check_policy(doc: dict[str, Any]) -> None:
    """Raise a 422 with the compiler's message when the document would not compile."""
    try:
        ruleset_from_doc(doc)
    except RuleError as exc:
        raise HTTPException(422, str(exc)) from None


def set_etag(response: Response, version: int) -> None:
    response.headers["ETag"] = f'"{version}"'


def _stale(expected: int, actual: int) -> HTTPException:
    return HTTPException(412, f"the policy is at version {actual}, not {expected}: reload it and retry")


async def change_policy(
    store: Store, who: Principal, expected: int | None, mutate: Mutation, response: Response | None = None
) -> dict[str, Any]:
    """Apply ``mutate`` to the current document and commit it as the next version; returns the
    committed document (or the current one when ``mutate`` returns None: nothing to change)."""
    for attempt in range(MAX_ATTEMPTS):
        current = await load_policy(store)
        base = int(current["version"])
        if expected is not None and expected != base:
            raise _stale(expected, base)
        doc = copy.deepcopy(current)
        edit = mutate(doc)
        if edit is None:
            result = current
            break
        check_policy(doc)
        doc["version"] = base + 1
        audit = {"ts": f"{time.time():.3f}", "who": who.who, "action": edit.action, "detail": edit.detail[:1000]}
        if await store.commit_policy(doc, base, audit):
            result = doc
            break
        if expected is not None:
            raise HTTPException(412, f"the policy changed after version {base}: reload it and retry")
        await asyncio.sleep(random.uniform(0, 0.002 * (attempt + 1)))
    else:
        raise HTTPException(409, "the policy kept changing while this change was applied; retry")
    if response is not None:
        set_etag(response, int(result["version"]))
    return result
