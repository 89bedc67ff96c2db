"""Two antibot nodes on a real 3-master Redis Cluster (``--redis-url redis+cluster://...``).

The cluster: three ``redis-server --cluster-enabled yes`` on loopback joined by ``redis-cli
--cluster create`` (tests/store/redis_cluster.py). Real sipp callers and a sipp PBX. Proven:
a softphone sweep split across both nodes is let through no more than the same sweep on one
node plus the INVITEs sent before each node reads the other's counts (two sync intervals and
one INVITE gap, see the assertion); a policy change made through node A's admin API applies on
node B within 1 s; the counters are spread over every master.
"""

from __future__ import annotations

import json
import math
import re
import secrets
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from antibot.config import SYNC_SHARED

from ..store.redis_cluster import LocalCluster
from .harness import Harness
from .peers import Proxy, Sipp, sipp_failure
from .procs import HOST, free_port, wait_for

pytestmark = pytest.mark.e2e

ZOIPER = "Zoiper rv2.10.20.2"
SWEEP = [("400", str(ext)) for ext in range(400, 600)]  # 200 sequential extensions
RATE = 50.0  # INVITEs per second, the whole sweep


@pytest.fixture
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    redis = LocalCluster(tmp_path_factory.mktemp("cluster")).start()
    try:
        yield redis
    finally:
        redis.stop()


def _sweep(e2e: Harness, label: str, proxy: Proxy, rows: list[tuple[str, str]], rate: float, ua: str = ZOIPER) -> Sipp:
    inf = e2e.tmp / f"{label}.csv"
    inf.write_text("SEQUENTIAL\n" + "".join(f"{frm};{to};\n" for frm, to in rows))
    extra = ["-key", "ua", ua, "-inf", str(inf)]
    return e2e.sipp(label, "uac_inject.xml", remote=proxy.addr, calls=len(rows), rate=rate, extra=extra)


def _reached(uas: Sipp, ua: str = ZOIPER) -> int:
    """The INVITEs with User-Agent ``ua`` that reached the PBX."""
    return sum(1 for m in uas.received("INVITE ") if re.search(rf"^User-Agent: {re.escape(ua)}\s*$", m, re.M))


def _rejected(uac: Sipp) -> int:
    return uac.count("603_Recv") + uac.count("403_Recv") + uac.count("404_Recv")


def _entity_keys(redis: LocalCluster) -> dict[int, set[str]]:
    """Each master's counter hash tags (``{src:...}``, ``{flow:...}``...)."""
    out = {}
    for port in redis.masters():
        client = redis.client(port)
        out[port] = {m[1] for k in client.scan("ab:{*") if (m := re.match(r"ab:(\{[^}]*\})", k))}
        client.close()
    return out


def _api(base: str, method: str, path: str, token: str, body: object = None) -> tuple[int, object]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method)
    request.add_header("Authorization", f"Bearer {token}")
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=5.0) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, None


def _applied_at(proxy: Proxy, version: int) -> float | None:
    """When every process of ``proxy`` had applied policy ``version`` (epoch seconds)."""
    return proxy.applied_at(version)


def test_two_nodes_on_a_redis_cluster_act_as_one(
    e2e: Harness, cluster: LocalCluster, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    token = secrets.token_urlsafe(24)
    monkeypatch.setenv("ANTIBOT_API_TOKEN", token)
    shared = ["--redis-url", cluster.url, "--probe-interval", "0"]  # no probes: nodes share one sipp PBX
    pbx = e2e.uas("uas_answer.xml", label="pbx-split")
    api_port = free_port()
    a = e2e.proxy([f"sip:{pbx.addr}"], extra=[*shared, "--api-listen", f"{HOST}:{api_port}"])
    b = e2e.proxy([f"sip:{pbx.addr}"], extra=["--detect", *shared])

    # (a) the sweep split across both nodes: even extensions through A, odd ones through B, at once
    on_a = _sweep(e2e, "sweep-a", a, SWEEP[0::2], RATE / 2)
    on_b = _sweep(e2e, "sweep-b", b, SWEEP[1::2], RATE / 2)
    on_a.wait()
    on_b.wait()
    why = sipp_failure(on_a, on_b, pbx)
    split = _reached(pbx)
    assert split + _rejected(on_a) + _rejected(on_b) == len(SWEEP), why

    # (c) the counters are spread over the cluster: every master holds entities, none twice
    tags = list(_entity_keys(cluster).values())
    assert len(tags) == 3 and all(tags), tags
    assert sum(len(t) for t in tags) == len(set().union(*tags)), tags

    # (b) a policy change through A's API applies on B within 1 s (B hears it on the change channel)
    base = f"http://{HOST}:{api_port}"
    wait_for(lambda: _api(base, "GET", "/api/v1/lists", token)[0] == 200, 15.0, "node A's admin API")
    before = time.time()
    status, added = _api(base, "POST", "/api/v1/lists/deny/user_agents", token, {"value": "Acme Robo"})
    assert status == 201, added
    version = int(added["version"])  # type: ignore[index]
    applied = wait_for(lambda: _applied_at(b, version), 10.0, f"node B to apply policy version {version}")
    assert applied - before <= 1.0, (applied - before, b.records()[-5:])
    # B denies the User-Agent A's API put on the deny list, whichever of B's workers gets the call
    robo = _sweep(e2e, "robo", b, [("500", "16505550100")], 1, ua="Acme Robo 2.1")
    robo.proc.wait(30)
    assert robo.count("603_Recv") + robo.count("403_Recv") == 1, sipp_failure(robo)
    rejects = robo.received("SIP/2.0 603 ") + robo.received("SIP/2.0 403 ")
    assert any("scanner user-agent" in m for m in rejects), rejects  # the deny list decided, not a score

    # the same sweep on one node (a third one, fresh counters, the cluster emptied)
    for port in cluster.masters():
        client = cluster.client(port)
        client("FLUSHALL")
        client.close()
    pbx_one = e2e.uas("uas_answer.xml", label="pbx-one")
    one = e2e.proxy([f"sip:{pbx_one.addr}"], extra=["--detect", *shared])
    alone = _sweep(e2e, "sweep-one", one, SWEEP, RATE)
    alone.wait()
    single = _reached(pbx_one)
    assert single + _rejected(alone) == len(SWEEP), sipp_failure(alone, pbx_one)

    # A node reads Redis's totals of an entity from the sync after that entity's second INVITE
    # on the node (antibot/detect/counting.py: a first sync only writes). Split over two nodes
    # at RATE / 2 each, the sweep's entities are read back at most one INVITE gap on a node plus
    # two sync intervals after the first INVITE: what is sent in that time may pass unseen.
    lag = 2 * SYNC_SHARED + 2 / RATE
    print(f"sweep reached the PBX: split over 2 nodes {split}, one node {single}; sent in the lag {RATE * lag:g}")
    print(f"policy applied on node B {applied - before:.3f} s after the API call on node A")
    assert split <= single + math.ceil(RATE * lag), (split, single, why)
