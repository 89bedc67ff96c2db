"""A static rule set from the config: a User-Agent deny list (the proxy core's first decision hook)."""

from __future__ import annotations

from collections.abc import Iterable

from ..sip.message import Request
from .verdict import Action, Verdict


class StaticRules:
    """Reject INVITEs whose User-Agent contains a listed substring (case-insensitive).

    Rejects use ``status``/``phrase`` and an RFC 3326 Reason text of ``"<prefix>: scanner
    user-agent"``; ``action="drop"`` answers nothing at all.
    """

    def __init__(
        self,
        deny_user_agents: Iterable[str] = (),
        *,
        action: str = "reject",
        status: int = 603,
        phrase: str = "Decline",
        reason_prefix: str = "antibot",
    ) -> None:
        self.patterns = tuple(p.lower() for p in deny_user_agents if p)
        self.action = Action(action)
        if self.action not in (Action.REJECT, Action.DROP):
            raise ValueError("static rule action must be 'reject' or 'drop'")
        if not 400 <= status <= 699:
            raise ValueError("reject status must be 400-699")
        self.status = status
        self.phrase = phrase
        self.reason_prefix = reason_prefix

    def decide(self, request: Request, source: object, now: float) -> Verdict:
        ua = (request.header("user-agent") or "").lower()
        for pattern in self.patterns:
            if pattern in ua:
                return Verdict(
                    self.action,
                    score=1.0,
                    reasons=("ua-deny",),
                    rule=f"deny-ua:{pattern}",
                    status=self.status,
                    phrase=self.phrase,
                    reason_text=f"{self.reason_prefix}: scanner user-agent",
                )
        return Verdict(Action.RELAY)
