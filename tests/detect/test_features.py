"""The feature table, observations and vectors (antibot.detect.features)."""

from __future__ import annotations

import math

import pytest

from antibot.detect import fingerprint
from antibot.detect.features import (
    AUX_TO_VALUE,
    COUNTER_NAMES,
    FEATURE_NAMES,
    FEATURES,
    STATIC_NAMES,
    counter_features,
    feature_vector,
    invite_features,
    observation,
    static_features,
)
from antibot.detect.lists import NumberLists
from antibot.detect.observation import Counters, Observation
from antibot.sip.message import Request

from ._sip import (
    ANON_SRC,
    ANONYMOUS,
    CARRIER_SDP,
    COMPACT,
    PHONE,
    PHONE_SDP,
    PHONE_SRC,
    SCANNER,
    SCANNER_SRC,
    TEL,
    invite,
    parse,
)

LISTS = NumberLists()
MESSAGES: dict[str, tuple[Request, str]] = {
    "scanner": (parse(SCANNER), SCANNER_SRC),
    "compact": (parse(COMPACT), SCANNER_SRC),
    "phone": (parse(PHONE, PHONE_SDP), PHONE_SRC),
    "anonymous": (parse(ANONYMOUS, CARRIER_SDP), ANON_SRC),
    "tel": (parse(TEL), ANON_SRC),
}


# --- the table --------------------------------------------------------------------------


def test_feature_table() -> None:
    assert len(FEATURE_NAMES) == len(set(FEATURE_NAMES)) == 76
    assert FEATURE_NAMES == STATIC_NAMES + COUNTER_NAMES
    assert FEATURE_NAMES[:3] == ("from_numeric", "from_len", "from_e164")
    assert FEATURE_NAMES[-3:] == ("seq_near", "seq_run", "seq_score")
    assert AUX_TO_VALUE not in FEATURE_NAMES
    for name, why in FEATURES:
        assert name.isidentifier() and name == name.lower()
        assert 20 <= len(why) <= 110 and "\n" not in why, name


@pytest.mark.parametrize("name", list(MESSAGES))
def test_static_features_cover_the_table(name: str) -> None:
    req, src = MESSAGES[name]
    static = static_features(req, src, LISTS)
    assert set(static) == set(STATIC_NAMES) | {AUX_TO_VALUE}
    assert all(isinstance(v, float) and math.isfinite(v) for v in static.values())
    assert all(static[n] in (0.0, 1.0) for n in STATIC_NAMES if n.startswith(("ua_", "no_", "sdp_present")))


# --- observations -----------------------------------------------------------------------


def test_observation_scanner() -> None:
    req, src = MESSAGES["scanner"]
    obs = observation(req, src)
    fp = fingerprint.ua_fingerprint(req)
    assert obs == Observation("198.51.100.7", "100", "100", "100", fp, "198.51.100.7|" + fp, "100", "")
    assert len(obs.ua_fingerprint) == 12


def test_observation_desk_phone() -> None:
    req, src = MESSAGES["phone"]
    obs = observation(req, src)
    assert (obs.source_ip, obs.from_user, obs.to_number, obs.to_prefix) == (
        "203.0.113.50",
        "1001",
        "02079460123",
        "020794",
    )


def test_observation_anonymous_has_no_from_user() -> None:
    req, src = MESSAGES["anonymous"]
    obs = observation(req, src)
    assert (obs.from_user, obs.to_number, obs.to_prefix) == ("", "442079460123", "442079")


def test_observation_tel_and_names() -> None:
    req, src = MESSAGES["tel"]
    assert observation(req, src).to_prefix == "121255"
    named = observation(invite("sip:alice@example.com", "sip:bob@pbx.example.com"), "203.0.113.9")
    assert (named.from_user, named.to_number, named.to_prefix) == ("alice", "bob", "")


def test_observation_fingerprint_separates_stacks() -> None:
    scanner = observation(*MESSAGES["scanner"])
    compact = observation(*MESSAGES["compact"])
    again = observation(parse(SCANNER.replace("876543210987654321", "1")), SCANNER_SRC)
    assert scanner.ua_fingerprint == again.ua_fingerprint
    assert scanner.ua_fingerprint != compact.ua_fingerprint


def test_observation_flow_is_the_stack_whatever_the_callers_identity() -> None:
    """A stack that asserts the caller on one call and not the next keeps one flow; its
    fingerprint (counters, features) still tells the two forms apart."""
    req, src = MESSAGES["scanner"]
    plain = observation(req, src)
    asserted = observation(parse(SCANNER.replace("Call-ID:", "P-Asserted-Identity: <sip:100@h>\nCall-ID:")), src)
    assert asserted.flow == plain.flow and asserted.ua_fingerprint != plain.ua_fingerprint
    hidden = parse(SCANNER.replace("Call-ID:", "Privacy: id\nCall-ID:"))
    assert invite_features(hidden, src, LISTS)[1].flow == plain.flow


# --- counter features -------------------------------------------------------------------


def test_counter_features_of_a_first_call() -> None:
    f = counter_features(Counters(src_1s=1.0, src_10s=1.0, src_60s=1.0, src_1h=1.0, src_distinct_to_60s=1.0))
    assert set(f) == set(COUNTER_NAMES)
    assert f["log_src_1s"] == pytest.approx(math.log(2.0))
    assert f["log_from_60s"] == 0.0
    assert f["src_to_diversity_60s"] == 0.5  # distinct / (calls + 1)
    assert f["src_fail_ratio"] == pytest.approx(0.2)  # 0/0 is the prior, not 1
    assert f["src_short_ratio"] == pytest.approx(0.1)
    assert (f["seq_near"], f["seq_run"], f["seq_score"]) == (0.0, 0.0, 0.0)


def test_counter_features_of_a_dialer() -> None:
    c = Counters(
        src_60s=math.e**3 - 1,
        src_1h=99.0,
        src_distinct_to_60s=19.0,
        src_distinct_to_1h=120.0,  # HyperLogLog may overshoot the count: clamped
        src_calls_1h=8.0,
        src_failed_1h=8.0,
        src_short_1h=3.0,
    )
    f = counter_features(c)
    assert f["log_src_60s"] == pytest.approx(3.0)
    assert f["src_to_diversity_60s"] == pytest.approx(19.0 / math.e**3)
    assert f["src_to_diversity_1h"] == 1.0
    assert f["src_fail_ratio"] == pytest.approx((8 + 0.4) / 10)
    assert f["src_short_ratio"] == pytest.approx((3 + 0.2) / 10)
    assert f["log_src_outcomes_1h"] == pytest.approx(math.log(9.0))


def test_counter_features_never_nan() -> None:
    c = Counters(src_1s=math.nan, src_60s=math.inf, from_1h=-5.0, src_calls_1h=math.nan, src_failed_1h=math.inf)
    f = counter_features(c, {AUX_TO_VALUE: math.nan})
    assert all(math.isfinite(v) for v in f.values())
    assert (f["log_src_1s"], f["log_src_60s"], f["log_from_1h"]) == (0.0, 0.0, 0.0)
    assert f["src_fail_ratio"] == pytest.approx(0.2)


def test_sequential_sweep_through_the_current_callee() -> None:
    req = invite("sip:100@1.1.1.1", "sip:105@192.0.2.1")
    static = static_features(req, SCANNER_SRC, LISTS)
    assert static[AUX_TO_VALUE] == 105.0
    c = Counters(src_recent_to=("104", "103", "102", "101", "100"))
    f = counter_features(c, static)
    assert (f["seq_near"], f["seq_run"], f["seq_score"]) == (5.0, 5.0, 1.0)
    # the same history, but this call goes elsewhere: the run does not reach it
    far = counter_features(c, static_features(invite("sip:100@1.1.1.1", "sip:900@192.0.2.1"), SCANNER_SRC, LISTS))
    assert (far["seq_near"], far["seq_run"], far["seq_score"]) == (0.0, 0.0, 0.0)


def test_sequential_without_static_uses_the_history() -> None:
    f = counter_features(Counters(src_recent_to=("442079460130", "442079460120", "442079460110")))
    assert (f["seq_near"], f["seq_run"], f["seq_score"]) == (1.0, 2.0, 0.5)


def test_named_callee_is_never_a_sweep() -> None:
    static = static_features(invite("sip:100@1.1.1.1", "sip:admin@192.0.2.1"), SCANNER_SRC, LISTS)
    assert static[AUX_TO_VALUE] == -1.0
    f = counter_features(Counters(src_recent_to=("104", "103", "102")), static)
    assert (f["seq_near"], f["seq_run"], f["seq_score"]) == (0.0, 0.0, 0.0)


# --- vectors ----------------------------------------------------------------------------


def test_feature_vector_order() -> None:
    req, src = MESSAGES["scanner"]
    counters = Counters(src_1s=3.0, src_recent_to=("99", "98"))
    values, vector = feature_vector(static_features(req, src, LISTS), counters)
    assert len(vector) == len(FEATURE_NAMES)
    merged = static_features(req, src, LISTS)
    merged.update(counter_features(counters, merged))
    assert values == merged
    assert list(vector) == [merged[n] for n in FEATURE_NAMES]
    named = dict(zip(FEATURE_NAMES, vector, strict=True))
    assert (named["ua_scanner"], named["from_eq_to"], named["via_branch_dash_digits"]) == (1.0, 1.0, 1.0)
    assert named["log_src_1s"] == pytest.approx(math.log(4.0))
    assert (named["seq_near"], named["seq_run"]) == (2.0, 2.0)  # 100 after 99, 98


def test_a_feature_the_code_did_not_produce_reads_zero() -> None:
    static = static_features(*MESSAGES["phone"], LISTS)
    del static["ua_scanner"]
    values, vector = feature_vector(static, Counters())
    assert "ua_scanner" not in values
    assert vector[FEATURE_NAMES.index("ua_scanner")] == 0.0 and len(vector) == len(FEATURE_NAMES)


def test_vectors_separate_scanner_from_phone() -> None:
    scanner = dict(
        zip(FEATURE_NAMES, feature_vector(static_features(*MESSAGES["scanner"], LISTS), Counters())[1], strict=True)
    )
    phone = dict(
        zip(FEATURE_NAMES, feature_vector(static_features(*MESSAGES["phone"], LISTS), Counters())[1], strict=True)
    )
    differing = {n for n in FEATURE_NAMES if scanner[n] != phone[n]}
    assert {"ua_scanner", "hdr_to_before_from", "via_branch_dash_digits", "from_eq_to", "sdp_present"} <= differing
    assert {"nat_private_addr", "from_host_ip_mismatch", "contact_ip_mismatch", "no_allow"} <= differing
