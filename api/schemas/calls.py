"""Call log entries (from the ``ab:calls`` stream), the listing query, and feedback."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from .common import ApiModel

CallRef = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,128}$")]
MAX_TS = 1e11


class Outcome(BaseModel):
    status: int = Field(description="final SIP status (0: none)")
    duration: float | None = Field(description="seconds answered, when known")


class CallSummary(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    id: str = Field(description="stream id of the entry")
    call: str
    ts: float
    verdict: str
    action: str
    score: float
    reasons: list[str]
    rule: str | None
    src: str
    from_: str = Field(alias="from")
    to: str
    ua: str
    status: int | None = Field(None, description="SIP status antibot answered with (a rejected call), when logged")
    outcome: Outcome | None = None
    transport: str = Field("", description="udp, tcp, tls, ws or wss ('' in entries logged before it was recorded)")


class Explanation(BaseModel):
    feature: str
    contribution: float


class Reason(BaseModel):
    """One reason in words (:func:`antibot.detect.explain.why`)."""

    code: str = Field(description="short code, as in reasons and X-Antibot-Reasons; filter with ?reason=")
    text: str = Field(description="what was seen, with its value (e.g. 'no P-Asserted-Identity or Remote-Party-ID')")
    weight: float | None = Field(description="log-odds contribution towards 'bot'; null for a rule or marker")


class TlsInfo(BaseModel):
    """What the TLS handshake of the connection a call came over said."""

    version: str = Field(description="e.g. TLSv1.3")
    cipher: str = Field(description="the cipher suite's name")
    sni: str | None = Field(description="the server name the client asked for (RFC 6066 §3); null: it sent none")
    client_cert: bool = Field(description="the client presented a certificate")


class CallDetail(CallSummary):
    tls: TlsInfo | None = Field(None, description="over TLS (tls, wss): the handshake's facts")
    features: dict[str, float]
    explanation: list[Explanation]
    why: list[Reason] = Field(description="the deciding rule, then the model's top reasons, then markers, in words")
    call_id: str
    mode: str


class CallPage(BaseModel):
    items: list[CallSummary]
    next_cursor: str | None = Field(description="pass as cursor to continue with older calls; null at the end")


class CallQuery(ApiModel):
    """Filters of ``GET /api/v1/calls``; all optional and combined with AND."""

    model_config = ConfigDict(populate_by_name=True)

    verdict: str | None = Field(
        None,
        pattern=r"^(pass|suspect|reject|drop)(,(pass|suspect|reject|drop)){0,3}$",
        description="one verdict, or several separated by commas (e.g. suspect,reject,drop)",
    )
    since: float | None = Field(None, ge=0, le=MAX_TS, description="epoch seconds")
    until: float | None = Field(None, ge=0, le=MAX_TS, description="epoch seconds")
    src: str | None = Field(None, max_length=64, description="source IP, or a CIDR it must be in")
    from_: str | None = Field(None, alias="from", max_length=64, description="caller number prefix")
    to: str | None = Field(None, max_length=64, description="callee number prefix")
    ua: str | None = Field(None, max_length=200, description="User-Agent substring (case-insensitive)")
    rule: str | None = Field(None, max_length=200, description="deciding rule id")
    reason: str | None = Field(
        None, pattern=r"^[A-Za-z0-9_.:+-]{1,64}$", description="a reason code the call has (e.g. no-identity)"
    )
    min_score: float | None = Field(None, ge=0, le=1)
    max_score: float | None = Field(None, ge=0, le=1)
    cursor: str | None = Field(None, pattern=r"^[0-9]{1,20}-[0-9]{1,20}$", description="next_cursor of the last page")
    limit: int = Field(50, ge=1, le=200)


class FeedbackCreate(ApiModel):
    label: Literal["bot", "human"]
    allowlist: Literal["caller", "source"] | None = Field(
        None, description="also allow-list the call's From number (caller) or source IP (source)"
    )


class AllowlistedEntry(BaseModel):
    type: Literal["numbers", "cidrs"]
    value: str


class FeedbackResult(BaseModel):
    stored: bool
    allowlisted: AllowlistedEntry | None
    version: int
