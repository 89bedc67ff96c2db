"""The Asterisk snippets in deploy/asterisk/ keep their promises (no Asterisk here: read, then run).

``pjsip.conf`` is read with a small INI-like reader (repeated section names with different
``type``, ``;`` comments, ``\\;`` escapes); ``extensions.conf`` is run by a tiny interpreter of
the applications it uses, for each verdict and each way a caller may answer the challenge.
An outbound INVITE built from the endpoint, its AOR and its ``outbound_proxy`` goes through the
real proxy core.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from antibot.proxy.config import CoreConfig
from antibot.proxy.core import ProxyCore
from antibot.proxy.effects import Addr, Transmit
from antibot.proxy.routing import Listener, LocalIdentity
from antibot.proxy.upstreams import Upstream, UpstreamPool
from antibot.sip.message import Request
from antibot.sip.parser import parse_datagram
from antibot.sip.uri import parse_uri

ASTERISK = Path(__file__).resolve().parents[2] / "deploy" / "asterisk"
Section = tuple[str, dict[str, list[str]]]
#: Every ``key value`` of a section in file order (``exten`` and ``same`` lines interleave).
ORDER = "\x00order"


def read_conf(path: Path) -> list[Section]:
    """Sections in order as (name, {key: [values]}); ``;`` starts a comment unless escaped."""
    sections: list[Section] = []
    for raw in path.read_text().splitlines():
        line = re.split(r"(?<!\\);", raw, maxsplit=1)[0].strip().replace("\\;", ";")
        if not line:
            continue
        head = re.fullmatch(r"\[([^\]]+)\](\(.*\))?", line)
        if head:
            sections.append((head.group(1), {}))
            continue
        assert sections, f"{path.name}: a line before any section: {raw!r}"
        key, sep, value = line.partition("=>") if "=>" in line else line.partition("=")
        assert sep, f"{path.name}: not key = value: {raw!r}"
        sections[-1][1].setdefault(key.strip(), []).append(value.strip())
        sections[-1][1].setdefault(ORDER, []).append(f"{key.strip()} {value.strip()}")
    return sections


def of_type(sections: list[Section], kind: str) -> dict[str, dict[str, str]]:
    return {name: {k: v[-1] for k, v in opts.items()} for name, opts in sections if opts.get("type") == [kind]}


@pytest.fixture(scope="module")
def pjsip() -> list[Section]:
    return read_conf(ASTERISK / "pjsip.conf")


@pytest.fixture(scope="module")
def dialplan() -> dict[str, list[Section]]:
    """Context name -> its raw lines (as one section each, for the interpreter)."""
    return {name: [(name, opts)] for name, opts in read_conf(ASTERISK / "extensions.conf")}


def proxy_endpoint(pjsip: list[Section]) -> tuple[str, dict[str, str], str]:
    """The endpoint identified by source address, its options, and the matched address."""
    identify = of_type(pjsip, "identify")
    endpoints = of_type(pjsip, "endpoint")
    found = [(i["endpoint"], i["match"]) for i in identify.values() if "match" in i and i.get("endpoint") in endpoints]
    assert len(found) == 1, f"want one identify (match=) naming an endpoint, have {identify}"
    name, match = found[0]
    return name, endpoints[name], match.split("/")[0].split(":")[0]


def test_proxy_endpoint_has_identify_aor_contact_and_outbound_proxy(pjsip: list[Section]) -> None:
    name, endpoint, proxy_ip = proxy_endpoint(pjsip)
    aors = of_type(pjsip, "aor")
    assert endpoint.get("aors") in aors, f"endpoint {name} needs aors= naming an AOR (for Dial(PJSIP/n@{name}))"
    contact = aors[endpoint["aors"]].get("contact", "")
    assert contact.startswith("sip:"), f"AOR {endpoint['aors']} needs a static contact"
    proxy = parse_uri(endpoint.get("outbound_proxy", "sip:missing"))
    assert proxy.host.host == proxy_ip, "outbound_proxy must be the address the identify matches"
    assert proxy.param("lr") is not None, "outbound_proxy needs ;lr (written \\;lr): antibot is a loose router"
    assert parse_uri(contact).host.host != proxy_ip, "the AOR contact must be where calls go, not the proxy"


def test_phones_registering_through_the_proxy_keep_its_path(pjsip: list[Section]) -> None:
    endpoints = of_type(pjsip, "endpoint")
    aors = of_type(pjsip, "aor")
    dynamic = [n for n, a in aors.items() if "contact" not in a]
    assert dynamic, "an AOR for a registering phone"
    assert all(aors[n].get("support_path") == "yes" for n in dynamic), aors
    assert any(e.get("aors") in dynamic for e in endpoints.values())


def test_an_outbound_call_built_from_the_config_goes_through_the_proxy(pjsip: list[Section]) -> None:
    """What Asterisk sends for Dial(PJSIP/<number>@antibot), fed to the proxy core: it is
    forwarded to the AOR's contact, not refused as addressed to the proxy itself."""
    name, endpoint, proxy_ip = proxy_endpoint(pjsip)
    contact = parse_uri(of_type(pjsip, "aor")[endpoint["aors"]]["contact"])
    route = endpoint["outbound_proxy"]
    port = parse_uri(route).host.port or 5060
    asterisk = Addr("udp", "10.0.0.3", 5080)
    me = LocalIdentity([Listener("udp", proxy_ip, port, proxy_ip)])
    core = ProxyCore(me, UpstreamPool([Upstream("sip:10.0.0.3:5080", asterisk)], probe_interval=0.0), CoreConfig())
    invite = (
        f"INVITE sip:15550100@{contact.host.host}:{contact.host.port or 5060} SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 10.0.0.3:5080;branch=z9hG4bK-ast-1;rport\r\nMax-Forwards: 70\r\n"
        f"Route: <{route}>\r\nFrom: <sip:6001@10.0.0.3>;tag=a1\r\nTo: <sip:15550100@{contact.host.host}>\r\n"
        "Call-ID: out-1@10.0.0.3\r\nCSeq: 1 INVITE\r\nContact: <sip:6001@10.0.0.3:5080>\r\nContent-Length: 0\r\n\r\n"
    ).encode()
    sent = [e for e in core.receive_datagram(invite, asterisk, 0.0) if isinstance(e, Transmit)]
    forwarded = [e for e in sent if e.dest.host == contact.host.host]
    assert forwarded, [e.data[:40] for e in sent]
    req = parse_datagram(forwarded[0].data)
    assert isinstance(req, Request) and req.method == "INVITE" and not req.values("route")


# ---------------------------------------------------------------- the dialplan, run
@dataclass
class Run:
    """One call through a context: the headers antibot added, the digits the caller presses."""

    headers: dict[str, str]
    digits: list[str]
    exten: str = "6001"
    vars: dict[str, str] = field(default_factory=dict)
    reads: int = 0
    end: str = ""


def expand(text: str, run: Run) -> str:
    """``${...}`` (innermost first) and ``$[...]`` as Asterisk expands them, for what this dialplan uses."""
    while True:
        m = re.search(r"\$\{([^${}]*)\}", text)
        if m is None:
            break
        text = text[: m.start()] + lookup(m.group(1), run) + text[m.end() :]
    while True:
        m = re.search(r"\$\[([^\[\]]*)\]", text)
        if m is None:
            return text
        text = text[: m.start()] + evaluate(m.group(1)) + text[m.end() :]


def lookup(name: str, run: Run) -> str:
    func = re.fullmatch(r"(\w+)\((.*)\)", name)
    if func is None:
        return run.exten if name == "EXTEN" else run.vars.get(name, "")
    fname, args = func.group(1), func.group(2).split(",")
    if fname == "PJSIP_HEADER":
        assert args[0] == "read", args
        return run.headers.get(args[1], "")
    if fname in ("HANGUPCAUSE", "HANGUPCAUSE_KEYS"):
        return ""
    raise AssertionError(f"function {fname} not known to this test")


def evaluate(expr: str) -> str:
    tokens = re.findall(r'"[^"]*"|!=|<=|>=|[=<>+\-]|[^\s"=<>!+\-]+', expr)
    values = [t[1:-1] if t.startswith('"') else t for t in tokens]
    if len(values) != 3:
        raise AssertionError(f"expression not understood by this test: $[{expr}]")
    a, op, b = values
    if op == "+":
        return str(int(a or 0) + int(b))
    if op == "-":
        return str(int(a or 0) - int(b))
    if op in ("<", ">", "<=", ">="):
        return str(int(eval(f"{int(a or 0)} {op} {int(b)}")))  # noqa: S307 - two integers
    return str(int((a == b) if op == "=" else (a != b)))


def execute(context: list[Section], run: Run, limit: int = 200) -> Run:
    """Run extension ``_X.`` of ``context`` until Dial, Hangup or the end; Dial ends the run."""
    steps: list[tuple[str | None, str, str]] = []
    for line in context[0][1].get(ORDER, []):
        m = re.fullmatch(r"(?:exten _X\.,1|same n)(?:\((\w+)\))?,(\w+)\((.*)\)", line)
        assert m, f"dialplan line not understood: {line!r}"
        steps.append((m.group(1), m.group(2), m.group(3)))
    labels = {label: i for i, (label, _, _) in enumerate(steps) if label}
    pc = 0
    for _ in range(limit):
        if pc >= len(steps):
            run.end = "fell off"
            return run
        _, app, args = steps[pc]
        pc += 1
        if app == "Set":
            var, _, value = args.partition("=")
            run.vars[var] = expand(value, run)
        elif app == "GotoIf":
            cond, _, targets = args.rpartition("?")
            yes, _, no = targets.partition(":")
            target = yes if expand(cond, run) not in ("", "0") else no
            if target:
                pc = labels[target] if target in labels else int(target) - 1
        elif app == "Read":
            run.reads += 1
            var = args.split(",")[0]
            run.vars[var] = run.digits.pop(0) if run.digits else ""
        elif app == "Dial":
            run.end = "Dial " + expand(args, run)
            return run
        elif app == "Hangup":
            run.end = "Hangup"
            return run
        elif app in ("Answer", "NoOp", "Verbose"):
            expand(args, run)
        else:
            raise AssertionError(f"application {app} not known to this test")
    run.end = f"still running after {limit} steps"
    return run


def inbound(dialplan: dict[str, list[Section]], verdict: str | None, digits: list[str]) -> Run:
    headers = {"X-Antibot-Score": "0.420", "X-Antibot-Reasons": "x", "X-Antibot-Call": "0123456789abcdef"}
    if verdict is not None:
        headers["X-Antibot-Verdict"] = verdict
    context = dialplan.get("from-antibot")
    assert context is not None, "extensions.conf has no [from-antibot]"
    return execute(context, Run(headers, list(digits)))


def test_the_proxy_endpoint_lands_in_the_verdict_context(pjsip: list[Section]) -> None:
    assert proxy_endpoint(pjsip)[1]["context"] == "from-antibot"


def test_pass_goes_straight_through(dialplan: dict[str, list[Section]]) -> None:
    run = inbound(dialplan, "pass", [])
    assert run.end.startswith("Dial PJSIP/6001") and run.reads == 0, run


@pytest.mark.parametrize(
    "digits", [["1"], ["2", "1"], ["", "1"]], ids=["first", "after-a-wrong-digit", "after-silence"]
)
def test_suspect_is_connected_only_after_pressing_1(dialplan: dict[str, list[Section]], digits: list[str]) -> None:
    run = inbound(dialplan, "suspect", digits)
    assert run.end.startswith("Dial PJSIP/6001"), run
    assert run.reads == len(digits), run


@pytest.mark.parametrize("digits", [[], ["2"] * 20, ["#", "0", "9"] * 5], ids=["silent-bot", "wrong", "mixed"])
@pytest.mark.parametrize("verdict", ["suspect", None], ids=["suspect", "no-header"])
def test_no_1_no_connection_and_a_bounded_retry(
    dialplan: dict[str, list[Section]], verdict: str | None, digits: list[str]
) -> None:
    run = inbound(dialplan, verdict, digits)
    assert run.end == "Hangup", run
    assert 1 <= run.reads <= 3, run


def test_outbound_calls_leave_through_the_proxy_endpoint(
    pjsip: list[Section], dialplan: dict[str, list[Section]]
) -> None:
    name = proxy_endpoint(pjsip)[0]
    lines = [line for ctx in dialplan.values() for line in ctx[0][1].get(ORDER, [])]
    assert any(re.search(rf"Dial\(PJSIP/\$\{{EXTEN\}}@{name}\b", line) for line in lines), lines
    assert any("HANGUPCAUSE" in line for line in lines), "the outbound leg's HANGUPCAUSE is shown"
