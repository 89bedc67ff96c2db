"""Operator rules: order, matchers, thresholds, mode, and safe patterns."""

from __future__ import annotations

import pytest

from antibot.detect.rules import UA_MEMO, CompiledRule, Facts, RuleError, RuleSet, RuleSpec
from antibot.proxy.decision import Action
from antibot.proxy.effects import TlsFacts


def facts(**kw: object) -> Facts:
    base: dict[str, object] = dict(
        source_ip="198.51.100.7",
        from_number="33123456789",
        to_number="442071234567",
        user_agent="Yealink SIP-T46S",
        score=0.1,
        features={},
    )
    base.update(kw)
    return Facts(**base)  # type: ignore[arg-type]


def test_allow_rules_win_even_when_listed_after_denies() -> None:
    rules = RuleSet(
        [
            RuleSpec("deny-ua", phase="deny", action="reject", ua_pattern="friendly-scanner"),
            RuleSpec("trunk", phase="allow", action="relay", cidrs=("198.51.100.0/24",)),
        ]
    )
    d = rules.decide(facts(user_agent="friendly-scanner"))
    assert (d.action, d.rule) == (Action.RELAY, "trunk")
    d2 = rules.decide(facts(user_agent="friendly-scanner", source_ip="203.0.113.5"))
    assert (d2.action, d2.rule, d2.status) == (Action.REJECT, "deny-ua", 603)


def test_matchers_are_anded_and_prefixes_normalised() -> None:
    rule = RuleSpec("irsf", phase="deny", action="drop", to_prefixes=("+53", "00252"), cidrs=("203.0.113.0/24",))
    rules = RuleSet([rule])
    assert rules.decide(facts(to_number="5355512345", source_ip="203.0.113.9")).action is Action.DROP
    assert rules.decide(facts(to_number="25261234567", source_ip="203.0.113.9")).action is Action.DROP
    assert rules.decide(facts(to_number="5355512345")).action is Action.RELAY  # other source
    assert rules.decide(facts(to_number="4412345", source_ip="203.0.113.9")).action is Action.RELAY


def test_ipv6_cidr_and_feature_threshold() -> None:
    rules = RuleSet(
        [
            RuleSpec("v6", phase="allow", action="relay", cidrs=("2001:db8::/32",)),
            RuleSpec("burst", phase="threshold", action="suspect", feature="src_rate_10s", feature_min=20.0),
        ]
    )
    assert rules.decide(facts(source_ip="2001:db8::1", features={"src_rate_10s": 50.0})).rule == "v6"
    assert rules.decide(facts(features={"src_rate_10s": 50.0})).action is Action.SUSPECT
    assert rules.decide(facts(features={"src_rate_10s": 19.0})).action is Action.RELAY


def test_score_thresholds_apply_when_no_rule_hits() -> None:
    rules = RuleSet([], suspect_threshold=0.5, reject_threshold=0.9)
    assert rules.decide(facts(score=0.95)).action is Action.REJECT
    assert rules.decide(facts(score=0.6)).action is Action.SUSPECT
    assert rules.decide(facts(score=0.2)).action is Action.RELAY
    assert rules.decide(facts(score=0.2)).rule is None


def test_disabled_rules_are_skipped() -> None:
    rules = RuleSet([RuleSpec("x", ua_pattern="yealink", enabled=False)])
    assert rules.decide(facts()).action is Action.RELAY


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (dict(id="a", phase="maybe", ua_pattern="x"), "phase must be"),
        (dict(id="b", action="explode", ua_pattern="x"), "action must be"),
        (dict(id="c", cidrs=["10.0.0.0/33"]), "bad CIDR"),
        (dict(id="d", ua_pattern="(unclosed"), "bad ua_pattern"),
        (dict(id="e"), "needs at least one matcher"),
        (dict(id="f", feature="x"), "go together"),
        (dict(id="g", ua_pattern="x", status=200), "rule g: status must be between 400 and 699, not 200"),
        (dict(id="h", colour="red"), "unknown field"),
        (dict(id="i", min_score=6e-27), "rule i: min_score must be between 0.05 and 1, not 6e-27"),
        (dict(id="j", min_score=float("nan")), "rule j: min_score must be between 0.05 and 1, not nan"),
        (dict(id="k", feature="to_len", feature_min=float("inf")), "rule k: feature_min must be between"),
    ],
)
def test_bad_rules_are_refused_with_a_clear_message(spec: dict[str, object], message: str) -> None:
    with pytest.raises(RuleError, match=message):
        RuleSet([RuleSpec.from_dict(spec)])


@pytest.mark.parametrize(
    ("knobs", "message"),
    [
        (dict(suspect_threshold=6e-27, reject_threshold=6e-27), "suspect_threshold must be between 0.05 and 1"),
        (dict(suspect_threshold=0.0), "suspect_threshold must be between 0.05 and 1, not 0.0"),
        (dict(reject_threshold=float("nan")), "reject_threshold must be between 0.05 and 1, not nan"),
        (dict(suspect_threshold=0.95), "need suspect_threshold <= reject_threshold"),
        (dict(corroboration=float("inf")), "corroboration must be between 0 and 1, not inf"),
        (dict(reject_status=99), "reject_status must be between 400 and 699, not 99"),
    ],
)
def test_thresholds_out_of_range_are_refused(knobs: dict[str, float], message: str) -> None:
    """a threshold of 6e-27 acts on every call; NaN on none."""
    with pytest.raises(RuleError, match=message):
        RuleSet([], **knobs)  # type: ignore[arg-type]


def test_re2_pattern_is_linear_time_on_a_redos_pattern() -> None:
    # (a+)+$ backtracks exponentially in Python's re; RE2 answers at once.
    rules = RuleSet([RuleSpec("redos", ua_pattern="(a+)+$")])
    assert rules.decide(facts(user_agent="a" * 5000 + "!")).action is Action.RELAY
    assert rules.decide(facts(user_agent="aaaa")).action is Action.REJECT


def test_ua_pattern_results_are_remembered_within_a_bound() -> None:
    rule = CompiledRule(RuleSpec("deny-ua", phase="deny", action="reject", ua_pattern="friendly-scanner"))
    assert rule._ua_matches("friendly-scanner") and rule._ua_matches("friendly-scanner")
    assert not rule._ua_matches("Yealink SIP-T46S")
    for i in range(UA_MEMO + 10):
        rule._ua_matches(f"junk {i}")
    assert len(rule._ua_seen) <= UA_MEMO and rule._ua_matches("Friendly-Scanner 1.0")  # case-insensitive


@pytest.mark.parametrize("score", [0.5, 0.6, 0.89, 0.9, 0.97, 1.0])
@pytest.mark.parametrize("support", [0.0, 0.3, 0.49])
@pytest.mark.parametrize(("verdict", "action"), [("pass", Action.RELAY), ("suspect", Action.SUSPECT)])
def test_an_uncorroborated_high_score_is_relayed_as_the_policy_says(
    score: float, support: float, verdict: str, action: Action
) -> None:
    """A score at or above the suspect threshold without enough support is not acted on
    (never rejected for it) but relayed as ``isolated_verdict`` says, ``score-isolated`` its rule."""
    d = RuleSet([], corroboration=0.5, isolated_verdict=verdict).decide(facts(score=score, support=support))
    assert (d.action, d.rule, d.stateless) == (action, "score-isolated", False)


def test_isolated_verdict_is_pass_suspect_or_suspect_above_reject() -> None:
    assert RuleSet([]).isolated_verdict == "suspect-above-reject"
    with pytest.raises(RuleError, match="isolated_verdict"):
        RuleSet([], isolated_verdict="reject")


def test_destination_matcher_reads_the_dialled_international_numbers() -> None:
    rule = RuleSpec("dest", phase="deny", dest_prefixes=("+882", "00 53", "+44-9"), dest_exceptions=("+88216", "+5399"))
    rules = RuleSet([rule])
    assert rules.reads_destinations and not rules.reads_numbers
    hit = rules.decide(facts(dialled=("882345678901",)))
    assert (hit.action, hit.rule, hit.stateless) == (Action.REJECT, "dest", True)
    assert rules.decide(facts(dialled=("535123456",))).rule == "dest"
    assert rules.decide(facts(dialled=("449012345678",))).rule == "dest"
    assert rules.decide(facts(dialled=("442071234567", "882345678901"))).rule == "dest"  # any of them
    # exceptions (a number or a prefix) are allowed anyway; what is not dialled internationally never matches
    assert rules.decide(facts(dialled=("882161234567",))).rule is None
    assert rules.decide(facts(dialled=("5399123456",))).rule is None
    assert rules.decide(facts(dialled=())).rule is None
    assert rules.decide(facts(to_number="882345678901")).rule is None  # national digits alone say nothing


@pytest.mark.parametrize("bad", ["09", "882", "+", "+88a", "+1234567890123456", ""])
def test_destination_prefixes_must_be_international(bad: str) -> None:
    with pytest.raises(RuleError, match=r"rule d: dest_prefixes entries are international"):
        RuleSet([RuleSpec("d", dest_prefixes=("+53", bad))])
    with pytest.raises(RuleError, match=r"rule d: dest_exceptions entries are international"):
        RuleSet([RuleSpec("d", dest_prefixes=("+53",), dest_exceptions=(bad,))])


def test_rules_on_the_transport_and_the_tls_handshake() -> None:
    bare = TlsFacts("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256", "", False)
    named = TlsFacts("TLSv1.3", "TLS_AES_128_GCM_SHA256", "sip.example.net", True)
    rules = RuleSet(
        [
            RuleSpec("ws", action="suspect", transports=("ws", "wss")),
            RuleSpec("no-sni", tls_sni="absent"),
            RuleSpec("named", action="relay", phase="allow", tls_sni="SIP.Example.net", tls_client_cert=True),
            RuleSpec("sni-no-cert", action="drop", tls_sni="present", tls_client_cert=False),
        ]
    )
    assert rules.decide(facts(transport="tls", tls=named)).rule == "named"
    assert rules.decide(facts(transport="wss", tls=named)).rule == "named"  # allow comes first
    assert rules.decide(facts(transport="wss", tls=bare)).rule == "ws"
    assert rules.decide(facts(transport="tls", tls=bare)).rule == "no-sni"
    assert rules.decide(facts(transport="tls", tls=TlsFacts("TLSv1.3", "x", "a.example", False))).rule == "sni-no-cert"
    assert rules.decide(facts(transport="udp")).rule is None  # TLS matchers never match a call not over TLS
    assert rules.decide(facts(transport="tcp")).rule is None


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"id": "x", "transports": ["sctp"]}, "transports must be among udp, tcp, tls, ws, wss"),
        ({"id": "x", "tls_sni": "bad name"}, "tls_sni must be"),
        ({"id": "x", "tls_sni": 7}, "tls_sni must be a string"),
        ({"id": "x", "tls_client_cert": "yes"}, "tls_client_cert must be true or false"),
    ],
)
def test_bad_transport_and_tls_matchers_are_refused(spec: dict[str, object], message: str) -> None:
    with pytest.raises(RuleError, match=message):
        RuleSet([RuleSpec.from_dict(spec)])
