"""Actions, their values and labels, and the RFC 3326 Reason header of a verdict."""

from __future__ import annotations

from antibot.proxy.decision import ACTION_LABELS, ACTION_VALUES, Action, Verdict, phrase_for


def test_every_action_has_its_value_and_label() -> None:
    assert {a: a.value for a in Action} == ACTION_VALUES
    labels = {Action.RELAY: "pass", Action.SUSPECT: "suspect", Action.REJECT: "reject", Action.DROP: "drop"}
    assert labels == ACTION_LABELS
    assert all(type(v) is str for v in ACTION_LABELS.values())


def test_an_action_hashes_like_its_value() -> None:
    """A StrEnum: dicts keyed by an action use str's hash (a plain Enum's runs in Python)."""
    assert Action.__hash__ is str.__hash__
    assert {Action.REJECT: 1}["reject"] == 1


def test_reason_header_escapes_its_text() -> None:
    v = Verdict(Action.REJECT, status=603, reason_text='antibot: "scanner" \\ ua')
    assert v.reason_header() == 'SIP;cause=603;text="antibot: \\"scanner\\" \\\\ ua"'
    assert phrase_for(607) == "Unwanted" and phrase_for(499) == "Decline"
