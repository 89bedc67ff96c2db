"""Building outgoing messages from received ones (RFC 3261 §8.2.6, §9.1, §16.6, §16.7, §17.1.1.3).

Forwarding copies every header line byte for byte and changes only what RFC 3261 §16.6
requires: a new top Via, Max-Forwards minus one, Record-Route (or Path, RFC 3327) on top,
the Route values that named this proxy removed; plus the proxy's own ``X-Antibot-*``
headers. Incoming ``X-Antibot-*`` lines from outside are dropped so verdicts can't be spoofed.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence

from .header import Header
from .headers import split_commas
from .message import Request, Response

ANTIBOT_PREFIX = "x-antibot-"
_COPIED = ("via", "from", "to", "call-id", "cseq")


def new_tag() -> str:
    return secrets.token_hex(6)


def forward_request(
    req: Request,
    *,
    via: str,
    top: Sequence[tuple[str, str]] = (),
    pop_routes: int = 0,
    add: Sequence[tuple[str, str]] = (),
    strip_antibot: bool = False,
    uri: str | None = None,
    top_via: str | None = None,
) -> bytes:
    """Serialize ``req`` for forwarding (RFC 3261 §16.6 steps 3-8).

    ``top`` holds Record-Route/Path headers inserted above the new Via; ``pop_routes`` is
    how many leading Route values name this proxy and go away (§16.4 pre-processing).
    ``top_via`` replaces the received top Via value when the transport layer filled in
    ``received``/``rport`` (RFC 3261 §18.2.1, RFC 3581 §4).
    """
    out: list[str] = [f"{req.method} {uri or req.uri} SIP/2.0\r\n"]
    out.extend(f"{name}: {value}\r\n" for name, value in top)
    out.append(f"Via: {via}\r\n")
    to_pop = pop_routes
    saw_length = False
    fix_via = top_via
    for h in req.headers:
        key = h.key
        if key == "via" and fix_via is not None:
            rest = split_commas(h.value)[1:]
            out.append(f"{h.name}: {', '.join([fix_via, *rest])}\r\n")
            fix_via = None
        elif key == "max-forwards":
            # §16.6 step 3: decrement; keep the sender's spelling of the name.
            out.append(f"{h.name}: {max(int(h.value) - 1, 0)}\r\n")
        elif key == "route" and to_pop:
            values = split_commas(h.value)
            keep = values[to_pop:]
            to_pop = max(0, to_pop - len(values))
            if keep:
                out.append(f"{h.name}: {', '.join(keep)}\r\n")
        elif strip_antibot and key.startswith(ANTIBOT_PREFIX):
            continue
        else:
            if key == "content-length":
                saw_length = True
            out.append(h.line)
    if req.max_forwards is None:
        out.append("Max-Forwards: 70\r\n")  # §16.6 step 3: add one when absent
    out.extend(f"{name}: {value}\r\n" for name, value in add)
    if not saw_length:
        out.append(f"Content-Length: {len(req.body)}\r\n")  # needed on streams (§18.3)
    out.append("\r\n")
    return "".join(out).encode("latin-1") + req.body


def forward_response(resp: Response) -> bytes:
    """Remove the topmost Via value, keep everything else (RFC 3261 §16.7 step 9).

    The usual top Via line holds one value: the received bytes are copied around it.
    """
    raw = resp.raw
    offset = raw.find(b"\r\n") + 2
    for h in resp.headers:
        if h.key == "via":
            if "," not in h.value:
                return raw[:offset] + raw[offset + len(h.line) :]
            break
        offset += len(h.line)
    out: list[str] = [resp.raw[: resp.raw.find(b"\r\n") + 2].decode("latin-1")]
    popped = False
    for h in resp.headers:
        if not popped and h.key == "via":
            popped = True
            rest = split_commas(h.value)[1:]
            if rest:
                out.append(f"{h.name}: {', '.join(rest)}\r\n")
            continue
        out.append(h.line)
    out.append("\r\n")
    return "".join(out).encode("latin-1") + resp.body


def response(
    headers: Iterable[Header],
    status: int,
    reason: str,
    *,
    to_tag: str | None = None,
    extra: Sequence[tuple[str, str]] = (),
    top_via: str | None = None,
) -> bytes:
    """Build a response to a request from its header lines (RFC 3261 §8.2.6.2).

    Works on the partial header list of a request that failed to parse, so a 400 can be
    routed back by its Via. A To tag is added to every non-100 response that lacks one.
    ``top_via`` is the request's top Via with ``received``/``rport`` filled in (RFC 3581 §4).
    """
    out: list[str] = [f"SIP/2.0 {status} {reason}\r\n"]
    seen: set[str] = set()
    for h in headers:
        if h.key in _COPIED:
            if h.key == "via" and top_via is not None:
                rest = split_commas(h.value)[1:]
                out.append(f"{h.name}: {', '.join([top_via, *rest])}\r\n")
                top_via = None
                continue
            if h.key != "via":
                # A request that repeats From/To/Call-ID/CSeq (RFC 4475 §3.3.8) gets its 400 with
                # one of each: a response with two Call-IDs would itself be unparseable.
                if h.key in seen:
                    continue
                seen.add(h.key)
            if h.key == "to" and status > 100 and ";tag=" not in h.value.replace(" ", "").lower():
                out.append(f"{h.name}: {h.value};tag={to_tag or new_tag()}\r\n")
            else:
                out.append(h.line)
    out.extend(f"{name}: {value}\r\n" for name, value in extra)
    out.append("Server: antibot\r\nContent-Length: 0\r\n\r\n")
    return "".join(out).encode("latin-1")


def ack_for(request: Request, resp: Response) -> bytes:
    """The ACK a client INVITE transaction sends for a non-2xx final (RFC 3261 §17.1.1.3).

    Same Request-URI, Call-ID, From, CSeq number and top Via as the INVITE, To from the
    response, and the INVITE's Route headers.
    """
    out = [f"ACK {request.uri} SIP/2.0\r\n"]
    out.extend(_request_lines(request, resp, "ACK"))
    return "".join(out).encode("latin-1")


def cancel_for(request: Request) -> bytes:
    """CANCEL for a pending INVITE (RFC 3261 §9.1): same top Via, R-URI, Call-ID, From, To, CSeq number."""
    out = [f"CANCEL {request.uri} SIP/2.0\r\n"]
    out.extend(_request_lines(request, None, "CANCEL"))
    return "".join(out).encode("latin-1")


def _request_lines(request: Request, resp: Response | None, method: str) -> list[str]:
    out: list[str] = []
    top_via = next(h for h in request.headers if h.key == "via")
    out.append(f"Via: {split_commas(top_via.value)[0]}\r\n")
    for h in request.headers:
        if h.key in ("from", "call-id", "route", "max-forwards"):
            out.append(h.line)
        elif h.key == "to":
            to = resp.header("to") if resp is not None else None
            out.append(f"{h.name}: {to}\r\n" if to is not None else h.line)
    out.append(f"CSeq: {request.cseq} {method}\r\nContent-Length: 0\r\n\r\n")
    return out
