"""Property-based fuzzing of every operation in the OpenAPI document (schemathesis, driven
through Hypothesis directly): whatever it sends, with an admin token, the API never answers 5xx."""

from __future__ import annotations

import asyncio
from typing import Any

import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode

from .conftest import ADMIN, auth, call_entry, outcome_entry, store

EXAMPLES = {GenerationMode.POSITIVE: 12, GenerationMode.NEGATIVE: 6}


async def _seed(url: str) -> None:
    """Something for the calls, feedback, dry-run and stats endpoints to find."""
    async with store(url) as s:
        entries = [call_entry(i, 1_700_000_000.0 + i) for i in range(50)]
        await s.log_calls([*entries, outcome_entry(entries[0]["call"], 200, 5.0, 1_700_000_100.0)], 1000)


def test_no_server_errors(app: FastAPI, url: str) -> None:
    asyncio.run(_seed(url))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    failures: list[str] = []
    for operation in operations:
        for mode, examples in EXAMPLES.items():

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=examples,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def run(case: Any) -> None:
                case.call_and_validate(headers=auth(ADMIN), checks=[not_a_server_error])

            try:
                run()
            except Unsatisfiable:  # nothing to break: no parameters to get wrong
                continue
            except Exception as exc:  # noqa: BLE001 - collect them all, report together
                failures.append(f"{operation.label} ({mode}): {str(exc)[:2000]}")
    assert not failures, "\n\n".join(failures)
