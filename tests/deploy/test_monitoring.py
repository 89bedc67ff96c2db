"""The monitoring examples in deploy/ work against a real ``antibot run``.

``deploy/prometheus/antibot.yml`` is read as Prometheus would and used to scrape a running proxy
with a viewer token (the token file it names, trimmed as Prometheus trims it). Every PromQL
expression of ``deploy/grafana/antibot-dashboard.json`` is taken apart: each series it names must
be in that real exposition (counters as ``_total``, histograms as ``_bucket``/``_sum``/``_count``),
counters only under ``rate``/``increase`` and gauges never, and every label value it selects must
be one the proxy exports or counts.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import secrets
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML, as schemathesis brings it

from antibot.config import load
from antibot.proxy.decision import ACTION_LABELS, Action
from tests.e2e.harness import Harness
from tests.e2e.procs import HOST, Processes, free_port, wait_for

REPO = Path(__file__).resolve().parents[2]
DASHBOARD = REPO / "deploy" / "grafana" / "antibot-dashboard.json"
SCRAPE = REPO / "deploy" / "prometheus" / "antibot.yml"
ALERTS = REPO / "deploy" / "prometheus" / "antibot-alerts.yml"
DS = "${DS_PROMETHEUS}"
#: Labels Prometheus adds to every scraped series (not in the exposition).
TARGET_LABELS = {"instance", "job", "service"}
#: Series Prometheus makes itself for every target.
SYNTHETIC = {"up": "gauge", "scrape_duration_seconds": "gauge"}
COUNTER_FUNCS = {"rate", "increase", "irate"}
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset"}
NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
#: Calls placed, each from its own source port: the kernel spreads them over the node's workers.
CALLS = 10
PER_CALL_SOCKET = ["-t", "un", "-max_socket", "100"]


# ---------------------------------------------------------------------- the exposition
@dataclass
class Exposition:
    """What one scrape exported: queryable series names, their type, label names and values."""

    text: str
    types: dict[str, str] = field(default_factory=dict)  # series name -> counter/gauge/histogram...
    labels: dict[str, dict[str, set[str]]] = field(default_factory=dict)  # series -> label -> values

    @classmethod
    def parse(cls, text: str) -> Exposition:
        exp = cls(text)
        for line in text.splitlines():
            if line.startswith("# TYPE "):
                _, _, name, kind = line.split(maxsplit=3)
                if kind == "counter":
                    name = name if name.endswith("_total") else name + "_total"
                    exp.types[name] = "counter"
                elif kind == "histogram":
                    for suffix in ("_bucket", "_sum", "_count"):
                        exp.types[name + suffix] = "counter"  # all three only ever grow
                else:
                    exp.types[name] = kind
            elif line and not line.startswith("#"):
                m = re.match(rf"({NAME})(?:\{{(.*)\}})?\s", line)
                assert m, f"not an exposition line: {line!r}"
                series = exp.labels.setdefault(m[1], {})
                for label, value in re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m[2] or ""):
                    series.setdefault(label, set()).add(value)
        return exp


def counted_kinds() -> set[str]:
    """Every string literal of the proxy and transport packages: the ``kind`` values of
    ``antibot_sip_messages_total`` are counter names written there (most count only on events)."""
    out: set[str] = set()
    for package in ("proxy", "transport"):
        for path in (REPO / "antibot" / package).glob("*.py"):
            out.update(re.findall(r'"([a-z][a-z0-9_]*)"', path.read_text()))
    return out


def known_values(exp: Exposition, series: str, label: str) -> set[str]:
    """Values ``label`` of ``series`` may take: seen in the scrape, or declared by the code."""
    values = set(exp.labels.get(series, {}).get(label, set()))
    if series == "antibot_verdicts_total" and label == "action":
        values |= {a.value for a in Action}
    if series == "antibot_recent_verdicts" and label == "verdict":
        values |= set(ACTION_LABELS.values())
    if series == "antibot_sip_messages_total" and label == "kind":
        values |= counted_kinds()
    return values


# ---------------------------------------------------------------------- PromQL, taken apart
@dataclass
class Use:
    """One series named in an expression: the matchers on it and the function applied to it."""

    name: str
    matchers: list[tuple[str, str, str]]  # (label, op, value)
    func: str | None


def uses(expr: str) -> tuple[list[Use], set[str]]:
    """The series an expression names, and the labels of its ``by``/``without``/``on`` clauses."""
    grouping: set[str] = set()
    for clause in re.findall(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)", expr):
        grouping |= {label.strip() for label in clause.split(",") if label.strip()}
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    text = re.sub(r"\[[^\]]*\]", "", text)  # range selectors ([5m], [$__rate_interval])
    found: list[Use] = []
    pattern = re.compile(rf'({NAME})\s*(\{{[^}}]*\}})?|"(?:[^"\\]|\\.)*"|\d+(?:\.\d+)?(?:e[+-]?\d+)?')
    for m in pattern.finditer(text):
        name = m.group(1)
        if name is None or name in PROMQL_WORDS:
            continue  # a string or a number
        if m.group(2) is None and re.match(r"\s*\(", text[m.end() :]):
            continue  # a function or an aggregation
        before = re.search(rf"({NAME})\s*\(\s*$", text[: m.start()])
        matchers = re.findall(r'(\w+)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"', m.group(2) or "")
        found.append(Use(name, [(label, op, value) for label, op, value in matchers], before[1] if before else None))
    return found, grouping


def dashboard_queries(doc: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, PromQL) for every panel target and every query variable."""
    for panel in doc["panels"]:
        for target in panel.get("targets", []):
            yield f"panel {panel['title']!r} {target['refId']}", target["expr"]
    for var in doc.get("templating", {}).get("list", []):
        if var.get("type") == "query":
            query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
            m = re.fullmatch(rf"label_values\(\s*({NAME})\s*,\s*(\w+)\s*\)", query)
            assert m, f"variable {var['name']}: unexpected query {query!r}"
            yield f"variable {var['name']!r}", f"count by ({m[2]}) ({m[1]})"


def alert_queries(doc: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, PromQL) for every alerting rule."""
    for group in doc["groups"]:
        for rule in group["rules"]:
            yield f"alert {rule['alert']}", rule["expr"]


def problems(queries: Iterable[tuple[str, str]], exp: Exposition) -> list[str]:
    """Everything in ``queries`` that the exposition does not back."""
    out: list[str] = []
    for where, expr in queries:
        found, grouping = uses(expr)
        if not found:
            out.append(f"{where}: names no series: {expr}")
        names = set()
        for use in found:
            names.add(use.name)
            kind = exp.types.get(use.name, SYNTHETIC.get(use.name))
            if kind is None:
                out.append(f"{where}: {use.name} is not exported")
                continue
            if kind == "counter" and use.func not in COUNTER_FUNCS:
                out.append(f"{where}: counter {use.name} used without rate()/increase()")
            if kind != "counter" and use.func in COUNTER_FUNCS:
                out.append(f"{where}: {use.func}() of {kind} {use.name}")
            for label, op, value in use.matchers:
                if label in TARGET_LABELS:
                    continue
                known = known_values(exp, use.name, label)
                if not known:
                    out.append(f"{where}: {use.name} has no label {label!r}")
                    continue
                wanted = value.split("|") if op in ("=~", "!~") else [value]
                for v in wanted:
                    if not re.fullmatch(r"[\w.+-]+", v) or v not in known:
                        out.append(f"{where}: {use.name}{{{label}{op}{value!r}}}: {v!r} is never exported")
        exported = {label for n in names for label in exp.labels.get(n, {})}
        if any(n.endswith("_bucket") for n in names):
            exported.add("le")
        for label in grouping - exported - TARGET_LABELS:
            out.append(f"{where}: groups by {label!r}, a label of none of {sorted(names)}")
    return out


# ---------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def scrape_config() -> dict[str, Any]:
    doc = yaml.safe_load(SCRAPE.read_text())
    assert isinstance(doc, dict), doc
    jobs = [job for job in doc["scrape_configs"] if job["job_name"] == "antibot"]
    assert len(jobs) == 1, doc
    job: dict[str, Any] = jobs[0]
    return job


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return doc


@pytest.fixture(scope="module")
def exposition(tmp_path_factory: pytest.TempPathFactory, scrape_config: dict[str, Any]) -> Iterator[Exposition]:
    """A real ``antibot run`` (embedded Redis, model, admin API) after a few calls, scraped as the
    scrape config says, with a viewer token from a tokens file."""
    tmp = tmp_path_factory.mktemp("monitoring")
    token = secrets.token_urlsafe(24)
    tokens_file = tmp / "api-tokens"
    tokens_file.write_text(f"viewer:{hashlib.sha256(token.encode()).hexdigest()}\n")
    credentials = tmp / "antibot.token"
    credentials.write_text(token + "\n")  # as `echo` writes it; Prometheus trims the file
    procs = Processes()
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.delenv("ANTIBOT_API_TOKEN", raising=False)
            mp.setenv("ANTIBOT_API_TOKENS_FILE", str(tokens_file))
            e2e = Harness(procs, tmp)
            api = f"{HOST}:{free_port()}"
            uas = e2e.uas("uas_answer.xml")
            # the default workers (one per core): /metrics adds up every worker's counters
            proxy = e2e.proxy([f"sip:{uas.addr}"], extra=["--api-listen", api])
        url = f"http://{api}{scrape_config['metrics_path']}"
        bearer = credentials.read_text().strip()
        status = wait_for(lambda: _get(url, None)[0], 5.0, f"the admin API on {api}")
        assert status == 401  # /metrics is not public
        e2e.uac("uac_call.xml", proxy, calls=CALLS, rate=20, extra=PER_CALL_SOCKET)

        def scraped() -> Exposition | None:
            status, text = _get(url, bearer)
            exp = Exposition.parse(text) if status == 200 else None
            # The call log reaches Redis asynchronously: wait until both views show the calls.
            relayed = re.search(r'^antibot_verdicts_total\{action="relay"\} (\S+)$', text, re.M)
            logged = re.search(r'^antibot_recent_verdicts\{verdict="pass",window="1h"\} (\S+)$', text, re.M)
            if exp and relayed and logged and float(relayed[1]) == float(logged[1]) == CALLS:
                return exp
            return None

        exp = wait_for(scraped, 10.0, f"{url} to show the {CALLS} calls")
        assert exp is not None
        yield exp
    except BaseException:
        procs.stop_all()
        for title, text in procs.dump():
            print(f"--- {title}\n{text}")
        raise
    finally:
        procs.stop_all()


def _get(url: str, token: str | None) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=2.0) as reply:
            return int(reply.status), reply.read().decode()
    except urllib.error.HTTPError as err:
        return int(err.code), ""
    except OSError:
        return 0, ""


# ---------------------------------------------------------------------- tests
def test_scrape_config_sends_a_token_file_to_the_metrics_path(scrape_config: dict[str, Any]) -> None:
    assert scrape_config["metrics_path"] == "/metrics"
    auth = scrape_config["authorization"]
    assert auth.get("type", "Bearer") == "Bearer"
    assert Path(auth["credentials_file"]).is_absolute()
    assert "credentials" not in auth and "bearer_token" not in scrape_config  # no secret in the file
    (static,) = scrape_config["static_configs"]
    assert static["targets"] == [load(None, {"upstream": ["sip:127.0.0.1:5080"]}).api_listen]  # the default
    for number, line in enumerate(SCRAPE.read_text().splitlines(), 1):
        assert not line.strip() or "#" in line, f"{SCRAPE.name}:{number} has no comment: {line!r}"


def test_dashboard_is_importable(dashboard: dict[str, Any]) -> None:
    """One datasource input used by every panel and query; unique ids; panels inside 24 columns, not overlapping."""
    assert 36 <= dashboard["schemaVersion"] <= 41
    assert dashboard["uid"] and dashboard["title"]
    assert [i["name"] for i in dashboard["__inputs"]] == ["DS_PROMETHEUS"]
    assert dashboard["__inputs"][0]["pluginId"] == "prometheus"
    assert set(re.findall(r"\$\{(DS_\w+)\}", json.dumps(dashboard))) == {"DS_PROMETHEUS"}
    panels = dashboard["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    cells: dict[tuple[int, int], str] = {}
    for p in panels:
        g = p["gridPos"]
        assert g["x"] >= 0 and g["w"] > 0 and g["x"] + g["w"] <= 24 and g["h"] > 0, p["title"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{p['title']!r} overlaps {cells[(x, y)]!r}"
                cells[(x, y)] = p["title"]
        if p["type"] == "row":
            continue
        assert p["datasource"] == {"type": "prometheus", "uid": DS}, p["title"]
        assert p["targets"] and p["description"], p["title"]
        assert len({t["refId"] for t in p["targets"]}) == len(p["targets"]), p["title"]
        assert all(t["datasource"]["uid"] == DS for t in p["targets"]), p["title"]


@pytest.mark.e2e
def test_every_dashboard_query_uses_exported_series(dashboard: dict[str, Any], exposition: Exposition) -> None:
    found = problems(dashboard_queries(dashboard), exposition)
    assert not found, "\n".join(found)
    # The families an operator needs are all on it.
    used = {use.name for _, expr in dashboard_queries(dashboard) for use in uses(expr)[0]}
    for name in (
        "antibot_verdicts_total",
        "antibot_decision_latency_seconds_bucket",
        "antibot_redis_up",
        "antibot_redis_errors_total",
        "antibot_redis_restarts_total",
        "antibot_internal_errors_total",
        "antibot_score_isolated_total",
        "antibot_calllog_dropped_total",
        "antibot_sip_messages_total",
    ):
        assert name in used, name


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("expr", "complaint"),
    [
        ("sum(rate(antibot_verdict_total[5m]))", "antibot_verdict_total is not exported"),  # a typo
        (  # a histogram without _bucket
            "histogram_quantile(0.5, sum by (le) (rate(antibot_decision_latency_seconds[5m])))",
            "antibot_decision_latency_seconds is not exported",
        ),
        ("rate(antibot_internal_errors[5m])", "antibot_internal_errors is not exported"),  # no _total
        ("antibot_redis_errors_total", "counter antibot_redis_errors_total used without rate()"),
        ("rate(antibot_redis_up[5m])", "rate() of gauge antibot_redis_up"),
        ('rate(antibot_sip_messages_total{kind=~"failover|upstream_dwn"}[5m])', "'upstream_dwn' is never exported"),
        ('rate(antibot_verdicts_total{verdict="pass"}[5m])', "antibot_verdicts_total has no label 'verdict'"),
        ("sum by (verdict) (rate(antibot_verdicts_total[5m]))", "groups by 'verdict'"),
    ],
)
def test_a_wrong_query_is_caught(dashboard: dict[str, Any], exposition: Exposition, expr: str, complaint: str) -> None:
    """Each kind of mistake, put into one panel, is reported (so the check above can fail)."""
    doc = copy.deepcopy(dashboard)
    next(p for p in doc["panels"] if p["type"] != "row")["targets"][0]["expr"] = expr
    found = problems(dashboard_queries(doc), exposition)
    assert any(complaint in p for p in found), found


@pytest.fixture(scope="module")
def alerts() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(ALERTS.read_text())
    return doc


def test_alert_rules_are_complete(alerts: dict[str, Any]) -> None:
    rules = [rule for group in alerts["groups"] for rule in group["rules"]]
    assert len({rule["alert"] for rule in rules}) == len(rules)
    for rule in rules:
        assert rule["labels"]["severity"] in ("critical", "warning"), rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]
        assert re.fullmatch(r"\d+[smh]", rule.get("for", "0s")), rule["alert"]


@pytest.mark.e2e
def test_every_alert_uses_exported_series(alerts: dict[str, Any], exposition: Exposition) -> None:
    found = problems(alert_queries(alerts), exposition)
    assert not found, "\n".join(found)
    used = {use.name for _, expr in alert_queries(alerts) for use in uses(expr)[0]}
    for name in ("up", "antibot_redis_up", "antibot_internal_errors_total", "antibot_sip_messages_total"):
        assert name in used, name
