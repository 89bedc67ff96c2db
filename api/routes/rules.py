"""Operator rules: CRUD, ordering, enable/disable (PATCH enabled) and dry-run on logged calls."""

from __future__ import annotations

import dataclasses
import secrets
from typing import Any

from fastapi import APIRouter, HTTPException, Path, Response

from antibot.detect.rules import RuleError, RuleSet, RuleSpec

from .. import calllog
from ..deps import AdminDep, IfMatchDep, StoreDep, ViewerDep
from ..policy_edit import Edit, change_policy, load_policy, set_etag
from ..schemas import DryRunRequest, DryRunResult, RuleCreate, RuleList, RuleOrder, RulePublic, RuleUpdate
from ..schemas.common import POLICY_ERRORS

router = APIRouter(prefix="/rules", tags=["rules"], responses=POLICY_ERRORS)
RuleIdPath = Path(max_length=200, description="rule id")
DRY_RUN_SHOWN = 50


def public(rule: Any) -> RulePublic:
    """A stored rule (a RuleSpec dict, maybe partial) with every field filled in."""
    spec = RuleSpec.from_dict(rule) if isinstance(rule, dict) else RuleSpec(str(rule))
    return RulePublic.model_validate(dataclasses.asdict(spec))


def rule_list(doc: dict[str, Any]) -> RuleList:
    return RuleList(version=doc["version"], rules=[public(r) for r in doc["rules"]])


def _index(doc: dict[str, Any], rule_id: str) -> int:
    for i, rule in enumerate(doc["rules"]):
        if isinstance(rule, dict) and rule.get("id") == rule_id:
            return i
    raise HTTPException(404, f"no rule {rule_id!r}")


def compile_alone(rule: dict[str, Any]) -> RuleSet:
    """The rule as a rule set of its own (thresholds at 1: only the rule decides); 422 if bad."""
    try:
        return RuleSet([RuleSpec.from_dict(rule)], suspect_threshold=1.0, reject_threshold=1.0)
    except RuleError as exc:
        raise HTTPException(422, str(exc)) from None


def _stored(rule: RulePublic | RuleCreate) -> dict[str, Any]:
    return rule.model_dump()


@router.get("", response_model=RuleList)
async def list_rules(store: StoreDep, _: ViewerDep, response: Response) -> RuleList:
    """The operator's rules in evaluation order (allow rules still run first, then deny, then threshold)."""
    doc = await load_policy(store)
    set_etag(response, doc["version"])
    return rule_list(doc)


@router.post("", response_model=RulePublic, status_code=201)
async def create_rule(
    body: RuleCreate, store: StoreDep, who: AdminDep, expected: IfMatchDep, response: Response
) -> RulePublic:
    """Append a rule (409 if its id exists; 422 if it would not compile)."""
    compile_alone(dict(body.model_dump(), id=body.id or "(new)"))
    created: dict[str, Any] = {}

    def mutate(doc: dict[str, Any]) -> Edit:
        ids = {r.get("id") for r in doc["rules"] if isinstance(r, dict)}
        rule_id = body.id or _fresh_id(ids)
        if rule_id in ids:
            raise HTTPException(409, f"a rule {rule_id!r} already exists")
        created.update(_stored(body), id=rule_id)
        doc["rules"].append(dict(created))
        return Edit("rule.create", f"created rule {rule_id}")

    await change_policy(store, who, expected, mutate, response)
    return public(created)


def _fresh_id(taken: set[Any]) -> str:
    while True:
        rule_id = f"r-{secrets.token_hex(4)}"
        if rule_id not in taken:
            return rule_id


@router.put("/order", response_model=RuleList)
async def order_rules(
    body: RuleOrder, store: StoreDep, who: AdminDep, expected: IfMatchDep, response: Response
) -> RuleList:
    """Reorder the rules: ``ids`` must name every rule exactly once."""

    def mutate(doc: dict[str, Any]) -> Edit | None:
        by_id = {r.get("id"): r for r in doc["rules"] if isinstance(r, dict)}
        if len(body.ids) != len(set(body.ids)) or set(body.ids) != set(by_id) or len(by_id) != len(doc["rules"]):
            missing = sorted(str(i) for i in set(by_id) - set(body.ids))
            unknown = sorted(set(body.ids) - set(by_id))
            raise HTTPException(
                422,
                "ids must list every rule exactly once"
                + (f"; missing: {', '.join(missing)}" if missing else "")
                + (f"; unknown: {', '.join(unknown)}" if unknown else ""),
            )
        if [r.get("id") for r in doc["rules"]] == body.ids:
            return None
        doc["rules"] = [by_id[i] for i in body.ids]
        return Edit("rule.order", "order: " + ", ".join(body.ids))

    return rule_list(await change_policy(store, who, expected, mutate, response))


@router.post("/dry-run", response_model=DryRunResult)
async def dry_run(body: DryRunRequest, store: StoreDep, _: ViewerDep) -> DryRunResult:
    """Which of the last ``last`` logged calls this rule would match (as if enabled); nothing is
    changed. Evaluated by the proxy's own rule code on each call's logged facts."""
    spec = dict(body.rule.model_dump(), id=body.rule.id or "dry-run", enabled=True)
    rules = compile_alone(spec)
    entries = await calllog.recent_calls(store, body.last)
    hits = [(i, f) for i, f in entries if rules.decide(calllog.facts(f)).rule == spec["id"]]
    shown = hits[:DRY_RUN_SHOWN]
    outcomes = await store.call_outcomes([f.get("call", "") for _, f in shown])
    calls = [calllog.summary(i, f, calllog.parse_outcome(o)) for (i, f), o in zip(shown, outcomes, strict=True)]
    return DryRunResult(checked=len(entries), hits=len(hits), calls=calls)


@router.get("/{rule_id}", response_model=RulePublic)
async def get_rule(store: StoreDep, _: ViewerDep, response: Response, rule_id: str = RuleIdPath) -> RulePublic:
    doc = await load_policy(store)
    set_etag(response, doc["version"])
    return public(doc["rules"][_index(doc, rule_id)])


@router.patch("/{rule_id}", response_model=RulePublic)
async def update_rule(
    body: RuleUpdate,
    store: StoreDep,
    who: AdminDep,
    expected: IfMatchDep,
    response: Response,
    rule_id: str = RuleIdPath,
) -> RulePublic:
    """Change some fields of a rule; ``{"enabled": false}`` disables it."""
    changes = body.changes()
    updated: dict[str, Any] = {}

    def mutate(doc: dict[str, Any]) -> Edit | None:
        i = _index(doc, rule_id)
        rule = _stored(public(doc["rules"][i]))
        updated.update(rule)
        if all(rule.get(k) == v for k, v in changes.items()):
            return None
        updated.update(changes)
        doc["rules"][i] = dict(updated)
        if set(changes) == {"enabled"}:
            return Edit("rule.enable" if changes["enabled"] else "rule.disable", f"{rule_id}")
        return Edit("rule.update", f"{rule_id}: {', '.join(sorted(changes))}")

    await change_policy(store, who, expected, mutate, response)
    return public(updated)


@router.delete("/{rule_id}", status_code=204)
async def delete_rule(
    store: StoreDep, who: AdminDep, expected: IfMatchDep, response: Response, rule_id: str = RuleIdPath
) -> Response:
    def mutate(doc: dict[str, Any]) -> Edit:
        del doc["rules"][_index(doc, rule_id)]
        return Edit("rule.delete", f"deleted rule {rule_id}")

    doc = await change_policy(store, who, expected, mutate)
    return Response(status_code=204, headers={"ETag": f'"{doc["version"]}"'})
