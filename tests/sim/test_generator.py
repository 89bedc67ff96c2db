"""generate(): determinism, ordering, window, labels, scale and the one-hour mix."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections import Counter

import pytest

from antibot.sim import PROFILES, SimEvent, generate

from ._support import START, run

LEGITIMATE = {"office_pbx", "call_centre", "mobile_softphone", "chatty_carrier", "smb_trunks", "regional_carrier"}
LEGITIMATE |= {"collections_centre", "hospital_pbx", "remote_workers"}
ATTACKS = {"scanner_sweep", "robodialer", "low_and_slow", "wangiri", "toll_fraud"}


def test_same_seed_same_events() -> None:
    first = list(generate(None, duration=900, seed=7))
    again = list(generate(None, duration=900, seed=7))
    assert len(first) > 500
    assert first == again


_DIGEST = """
import hashlib
from antibot.sim import generate
h = hashlib.sha256()
for e in generate(None, duration=600, seed=9):
    h.update(repr((e.ts, e.src_ip, e.src_port, e.data, e.label, e.profile, e.method, e.status, e.duration)).encode())
print(h.hexdigest())
"""


def test_same_seed_same_events_in_other_processes() -> None:
    """No hidden dependence on string hashing (set order), the clock or the global RNG."""
    digests = set()
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        done = subprocess.run([sys.executable, "-c", _DIGEST], env=env, capture_output=True, text=True, check=True)
        digests.add(done.stdout.strip())
    h = hashlib.sha256()
    for e in generate(None, duration=600, seed=9):
        h.update(
            repr((e.ts, e.src_ip, e.src_port, e.data, e.label, e.profile, e.method, e.status, e.duration)).encode()
        )
    assert digests == {h.hexdigest()}


def test_another_seed_other_events() -> None:
    a = [e.data for e in generate(None, duration=900, seed=7)]
    b = [e.data for e in generate(None, duration=900, seed=8)]
    assert a != b
    assert not set(a) & set(b)


def test_a_profile_does_not_depend_on_which_others_run() -> None:
    chosen = ("wangiri", "robodialer", "office_pbx")
    alone = run(chosen, 7200.0, 3)
    together = [e for e in run(None, 7200.0, 3) if e.profile in chosen]
    assert len(alone) > 200
    for name in chosen:
        assert [e for e in alone if e.profile == name] == [e for e in together if e.profile == name]


@pytest.mark.parametrize(
    ("start", "duration"), [(START, 3600.0), (1_712_345_678.9, 1234.5), (START + 3 * 86400, 21600.0)]
)
def test_time_order_and_window(start: float, duration: float) -> None:
    events = run(None, duration, 4, 0.25 if duration > 3600 else 1.0, start)
    ts = [e.ts for e in events]
    assert ts == sorted(ts)
    assert start <= ts[0] and ts[-1] <= start + duration
    assert ts[-1] - ts[0] > 0.9 * duration  # the whole window is used, not just its start


def test_labels_and_families_are_the_declared_ones(hour: tuple[SimEvent, ...], day: tuple[SimEvent, ...]) -> None:
    for ev in hour + day:
        declared = PROFILES[ev.profile]
        assert (ev.label, ev.family) == (declared.label, declared.family), ev.profile
    assert {e.profile for e in hour} == set(PROFILES)
    assert {e.label for e in hour + day if e.profile in LEGITIMATE} == {0}
    assert {e.label for e in hour + day if e.profile in ATTACKS} == {1}


def test_registry_lists_the_documented_profiles() -> None:
    assert set(PROFILES) == LEGITIMATE | ATTACKS
    for name, profile in PROFILES.items():
        assert profile.name == name
        assert profile.label == (0 if name in LEGITIMATE else 1)
        assert (profile.family == "legitimate") == (name in LEGITIMATE)
        assert profile.summary and "\n" not in profile.summary
        assert len(profile.doc) > 400, f"{name} is not documented"


def test_outcomes_are_consistent(day: tuple[SimEvent, ...]) -> None:
    statuses = Counter(e.status for e in day if e.method == "INVITE")
    assert {200, 404, 480, 486, 487}.issubset(statuses)
    for ev in day:
        assert 200 <= ev.status < 700
        if ev.method == "INVITE":
            assert (ev.status == 200) == (ev.duration is not None)
            assert ev.duration is None or ev.duration > 0
        else:
            assert ev.duration is None
        if ev.method == "CANCEL":
            assert ev.status == 487


def test_unknown_profile_is_refused() -> None:
    with pytest.raises(ValueError, match="nope"):
        generate(["office_pbx", "nope"], duration=10, seed=0)


def test_negative_duration_or_scale_is_refused() -> None:
    with pytest.raises(ValueError):
        generate(None, duration=-1, seed=0)
    with pytest.raises(ValueError):
        generate(None, duration=1, seed=0, scale=-0.5)


def test_scale_multiplies_volume() -> None:
    chosen = ("office_pbx", "low_and_slow", "chatty_carrier", "call_centre")
    full = Counter(e.profile for e in run(chosen, 3600.0, 5, 1.0))
    half = Counter(e.profile for e in run(chosen, 3600.0, 5, 0.5))
    for name in chosen:
        assert 0.35 < half[name] / full[name] < 0.65, name
    assert not list(generate(None, duration=3600, seed=5, scale=0.0))


def test_one_hour_mix_is_sensible(hour: tuple[SimEvent, ...]) -> None:
    events = Counter(e.profile for e in hour)
    invites = Counter(e.profile for e in hour if e.method == "INVITE")
    print("\nevents per profile (1 h, seed 1):", dict(events))
    assert set(events) == set(PROFILES)  # every profile shows up in an ordinary afternoon hour
    human = sum(invites[n] for n in LEGITIMATE)
    bot = sum(invites[n] for n in ATTACKS)
    assert 0.5 < human / (human + bot) < 0.92
    assert 3000 < len(hour) < 9000
    # the legitimate volume ranking the profiles describe
    assert invites["chatty_carrier"] > invites["call_centre"] > invites["office_pbx"] > invites["mobile_softphone"]
    # scanners are noisy but are not calls: mostly REGISTER/OPTIONS
    assert events["scanner_sweep"] > 100
