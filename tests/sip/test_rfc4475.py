"""RFC 4475 torture messages: one test per message, named by it (``test_valid[wsinv]``...).

Valid messages must parse; invalid ones must be refused with a specific error; the
semantic ones must be handled as RFC 4475 says a proxy must, checked on the bytes the
proxy core sends.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from antibot.proxy.effects import Addr
from antibot.sip.address import parse_name_addr
from antibot.sip.errors import BadResponse, NotImplementedMethod, ParseError, SipError, VersionNotSupported
from antibot.sip.message import Request, Response
from antibot.sip.parser import parse_datagram
from antibot.sip.uri import parse_uri

from ._support import OUR_HOP, SOURCE, UPSTREAM, assert_forwarded, assert_reply, load, manifest, params, through_proxy

SUITE = "rfc4475"


def _req(msg: Request | Response) -> Request:
    assert isinstance(msg, Request)
    return msg


# ---------------------------------------------------------------- 3.1.1 valid messages
def _wsinv(msg: Request | Response, data: bytes) -> None:
    req = _req(msg)
    assert (req.method, req.uri) == ("INVITE", "sip:vivekg@chair-dnrc.example.com;unknownparam")
    assert (req.max_forwards, req.cseq, req.cseq_method) == (68, 9, "INVITE")
    assert (req.to_tag, req.from_tag) == ("1918181833n", "98asjd8")
    assert req.from_.display == r'"J Rosenberg \\\""'
    assert [(v.transport, v.sent_by.host, v.branch) for v in req.vias] == [
        ("UDP", "192.0.2.2", "390skdjuw"),
        ("TCP", "spindle.example.com", "z9hG4bK9ikj8"),
        ("UDP", "192.168.255.111", "z9hG4bK30239"),
    ]
    assert req.header("subject") == ""
    assert req.header("newfangledheader") == "newfangled value continued newfangled value"
    assert req.header("unknownheaderwithunusualvalue") == ";;,,;;,;"
    contact = parse_name_addr(req.values("contact")[0], "Contact")
    assert contact.params == (("newparam", "newvalue"), ("secondparam", None), ("q", "0.33"))
    assert req.headers[0].line == "TO :\r\n sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n\r\n"
    assert len(req.body) == 150


def _intmeth(msg: Request | Response, data: bytes) -> None:
    req = _req(msg)
    method = "!interesting-Method0123456789_*+`.%indeed'~"
    assert (req.method, req.cseq_method, req.cseq) == (method, method, 139122385)
    assert (
        parse_uri(req.uri).user
        == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    )
    assert req.vias[0].branch == "z9hG4bK-.!%66*_+`'~"
    assert req.call_id == "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"
    assert req.to.display == '"BEL:\\\x07 NUL:\\\x00 DEL:\\\x7f"'
    assert req.from_tag == "_token~1'+`*%!-."
    utf8 = req.from_.param("fromparam''~+*_!.-%")
    assert (
        utf8 is not None
        and utf8.encode("latin-1").decode("utf-8") == '"\u0440\u0430\u0431\u043e\u0442\u0430\u044e\u0449\u0438\u0439"'
    )
    ext = req.header("extensionheader-!.%*+_`'~")
    assert ext is not None and ext.encode("latin-1").decode("utf-8") == "\ufeff\u5927\u505c\u96fb"


def _esc01(msg: Request | Response, data: bytes) -> None:
    req = _req(msg)
    uri = parse_uri(req.uri)
    assert (uri.user, uri.host.host) == ("sips%3Auser%40example.com", "example.net")
    assert parse_uri(req.to.uri).user == "%75se%72"
    assert parse_uri(req.from_.uri).user == "I%20have%20spaces"
    contact = parse_uri(parse_name_addr(req.values("contact")[0], "Contact").uri)
    assert contact.user == "cal%6Cer"
    assert contact.param("n%61me") == "v%61lue%25%34%31"  # never unescaped (twice or at all)
    assert req.header("content-type") == "application/sdp"  # compact "C:"


def _escnull(msg: Request | Response, data: bytes) -> None:
    req = _req(msg)
    assert parse_uri(req.to.uri).user == "null-%00-null" == parse_uri(req.from_.uri).user
    users = [parse_uri(parse_name_addr(v, "Contact").uri).user for v in req.values("contact")]
    assert users == ["%00", "%00%00"]


def _esc02(msg: Request | Response, data: bytes) -> None:
    req = _req(msg)
    assert req.method == req.cseq_method == "RE%47IST%45R"
    assert req.values("contact") == ["<sip:alias1@host1.example.com>", "<sip:alias3@host3.example.com>"]
    assert req.header("c%6fntact") == "<sip:alias2@host2.example.com>"
    assert req.to.display == '"%Z%45"'


def _lwsdisp(msg: Request | Response, data: bytes) -> None:
    req = _req(msg)
    assert (req.from_.display, req.from_.uri, req.from_tag) == ("caller", "sip:caller@example.com", "323")


def _longreq(msg: Request | Response, data: bytes) -> None:
    req = _req(msg)
    assert len(req.vias) == 34
    assert [v.sent_by.host for v in req.vias[:3]] == ["sip33.example.com", "sip32.example.com", "sip31.example.com"]
    assert req.vias[33].sent_by.host == "host.example.com" and req.vias[33].param("received") == "192.0.2.5"
    assert [h.name for h in req.headers if h.key == "via"][:4] == ["Via", "v", "V", "Via"]
    assert req.from_tag == "1" + "298" * 50 + "2424"
    assert parse_uri(req.to.uri).host.port == 6000
    assert req.call_id.startswith("longreq.one") and req.call_id.endswith("longcallid")
    assert len(req.body) == 150


def _dblreq(msg: Request | Response, data: bytes) -> None:
    req = _req(msg)
    assert (req.method, req.body) == ("REGISTER", b"")
    register = data[: data.index(b"\r\n\r\n") + 4]
    assert msg.raw == register and len(data) - len(register) == 450
    run = through_proxy(data)  # the trailing INVITE is never forwarded
    assert run.needed_verdict  # out of dialog from outside: decided, like every such request
    (out,) = run.sent
    assert_forwarded(register, out, [f"Path: {OUR_HOP}"])
    assert b"INVITE" not in out.data


def _semiuri(msg: Request | Response, data: bytes) -> None:
    req = _req(msg)
    uri = parse_uri(req.uri)
    assert (uri.user, uri.host.host, uri.params) == ("user;par=u%40example.net", "example.com", ())
    assert req.values("accept") == [
        "application/sdp", "application/pkcs7-mime", "multipart/mixed",
        "multipart/signed", "message/sip", "message/sipfrag",
    ]  # fmt: skip


def _transports(msg: Request | Response, data: bytes) -> None:
    assert [v.transport for v in msg.vias] == ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]
    assert msg.call_id == "transports.kijh4akdnaqjkwendsasfdj"


def _mpart01(msg: Request | Response, data: bytes) -> None:
    req = _req(msg)
    assert req.method == "MESSAGE"
    assert len(req.body) == 553 == int(req.header("content-length") or -1)
    assert req.body == data[-553:]
    assert b"\x00" in req.body
    assert any(req.body[i] == 0x0A and req.body[i - 1] != 0x0D for i in range(1, 553))  # a bare LF
    assert req.body.endswith(b"--7a9cbec02ceef655--\r\n")


def _unreason(msg: Request | Response, data: bytes) -> None:
    assert isinstance(msg, Response) and msg.status == 200
    wire = data.split(b"\r\n", 1)[0][len(b"SIP/2.0 200 ") :]
    assert msg.reason.encode("latin-1") == wire
    assert wire.decode("utf-8").startswith("= 2**3 * 5**2 \u043d\u043e \u0441\u0442\u043e")


def _noreason(msg: Request | Response, data: bytes) -> None:
    assert isinstance(msg, Response)
    assert (msg.status, msg.reason) == (100, "")
    assert msg.to_tag == "902jndnke3"


VALID: dict[str, Callable[[Request | Response, bytes], None]] = {
    "wsinv": _wsinv, "intmeth": _intmeth, "esc01": _esc01, "escnull": _escnull, "esc02": _esc02,
    "lwsdisp": _lwsdisp, "longreq": _longreq, "dblreq": _dblreq, "semiuri": _semiuri,
    "transports": _transports, "mpart01": _mpart01, "unreason": _unreason, "noreason": _noreason,
}  # fmt: skip

# ---------------------------------------------------------------- 3.1.2 invalid messages
#: name -> (exact error class, status (None: drop silently), words the reason must contain)
INVALID: dict[str, tuple[type[SipError], int | None, str]] = {
    "badinv01": (ParseError, 400, "empty parameter in Via"),
    "clerr": (ParseError, 400, "Content-Length larger"),
    "ncl": (ParseError, 400, "bad Content-Length"),
    "scalar02": (ParseError, 400, "CSeq number"),
    "scalarlg": (BadResponse, None, "CSeq number"),
    "quotbal": (ParseError, 400, "unterminated quoted display name in To"),
    "ltgtruri": (ParseError, 400, "Request-URI enclosed in <>"),
    "lwsruri": (ParseError, 400, "request line"),
    "lwsstart": (ParseError, 400, "request line"),
    "trws": (ParseError, 400, "request line"),
    "escruri": (ParseError, 400, "Request-URI must not carry headers"),
    "baddate": (ParseError, 400, "GMT"),
    "regbadct": (ParseError, 400, "Contact must be enclosed in <>"),
    "badaspec": (ParseError, 400, "whitespace inside <> in To"),
    "baddn": (ParseError, 400, "display name in From must be quoted"),
    "badvers": (VersionNotSupported, 505, "version not supported"),
    "mismatch01": (ParseError, 400, "CSeq method does not match"),
    "mismatch02": (NotImplementedMethod, 501, "CSeq method does not match"),
    "bigcode": (BadResponse, None, "status code"),
}


def test_manifest_matches_the_expectations() -> None:
    rows = manifest(SUITE)
    assert rows, f"no {SUITE} manifest"
    by_class: dict[str, set[str]] = {}
    for row in rows:
        by_class.setdefault(row["rfc4475_class"], set()).add(row["name"])
    assert by_class == {"valid": set(VALID), "invalid": set(INVALID), "semantic": set(SEMANTIC)}


@pytest.mark.parametrize("row", params(SUITE, "rfc4475_class", frozenset({"valid"})))
def test_valid(row: dict[str, str] | None) -> None:
    data = load(SUITE, row)
    assert row is not None
    msg = parse_datagram(data)
    # Every header line is kept exactly as received (name spelling, folding, order).
    head = data[: data.index(b"\r\n\r\n") + 2].decode("latin-1")
    assert "".join(h.line for h in msg.headers) == head.split("\r\n", 1)[1]
    length = msg.header("content-length")
    assert length is not None and len(msg.body) == int(length)
    VALID[row["name"]](msg, data)


@pytest.mark.parametrize("row", params(SUITE, "rfc4475_class", frozenset({"invalid"})))
def test_invalid(row: dict[str, str] | None) -> None:
    data = load(SUITE, row)
    assert row is not None
    cls, status, words = INVALID[row["name"]]
    with pytest.raises(SipError) as info:
        parse_datagram(data)
    exc = info.value
    assert type(exc) is cls
    assert exc.status == status
    assert words in exc.reason
    run = through_proxy(data)
    if status is None:  # a bad response: discarded, never answered (RFC 3261 §18.1.2)
        assert run.sent == []
        return
    assert any(h.key == "via" for h in exc.headers)  # so the error can be routed back
    reason, _ = assert_reply(run, status)
    assert words in reason


# ---------------------------------------------------------------- 3.2-3.4 semantic messages
def _rejected(status: int, words: str) -> Callable[[bytes], None]:
    """The proxy answers ``status`` to the sender, statelessly, and forwards nothing."""

    def check(data: bytes) -> None:
        reason, _ = assert_reply(through_proxy(data), status)
        assert words in reason

    return check


def _bext01(data: bytes) -> None:
    _, reply = assert_reply(through_proxy(data), 420)
    assert b"\r\nUnsupported: noProxiesSupportThis, norDoAnyProxiesSupportThis\r\n" in reply
    assert b"nothingSupportsThis" not in reply  # Require is for the UAS, not for a proxy


def _multi01(data: bytes) -> None:
    reason, reply = assert_reply(through_proxy(data), 400)
    assert reason == "more than one CSeq header"
    names = [line.split(b":", 1)[0] for line in reply.split(b"\r\n")[1:]]
    for name in (b"Call-ID", b"CSeq", b"From", b"To"):
        assert names.count(name) == 1, name


def _bcast(data: bytes) -> None:
    run = through_proxy(data)  # top Via is not ours: not our response to forward
    assert run.sent == [] and run.core.stats["responses_not_ours"] == 1
    # Even when the top Via is ours, the next hop is the broadcast address: drop (RFC 4475 §3.3.10).
    ours = data.replace(b"192.0.2.198;branch=z9hG4bK1324923", b"127.0.0.1:5060;branch=z9hG4bK-ab00.1")
    run = through_proxy(ours)
    assert run.sent == [] and run.core.stats["broadcast_dropped"] == 1
    # Control: with a unicast next hop the same response is forwarded.
    run = through_proxy(ours.replace(b"255.255.255.255", b"192.0.2.50"))
    assert [t.dest for t in run.sent] == [Addr("udp", "192.0.2.50", 5060)]


def _forwarded(invite: bool, top: str, line: bytes = b"") -> Callable[[bytes], None]:
    """The request goes upstream as-is (the UAS/registrar decides); ``line`` is kept byte-identical."""

    def check(data: bytes) -> None:
        run = through_proxy(data)
        assert run.needed_verdict  # out of dialog from outside: every method is decided
        if invite:  # our own 100 Trying to the caller, nothing else back
            (trying,) = run.to(SOURCE)
            assert trying.data.startswith(b"SIP/2.0 100 Trying\r\n")
        (out,) = run.to(UPSTREAM)
        assert len(run.sent) == (2 if invite else 1)
        first = top
        if top == _RR:  # our Record-Route carries the dialog's token
            token = run.core.me.dialog_token(parse_datagram(data).call_id)
            first = f"Record-Route: <sip:127.0.0.1:5060;lr;abt={token}>"
        assert_forwarded(data, out, [first])
        assert line in data and line in out.data

    return check


_RR = f"Record-Route: {OUR_HOP}"
_PATH = f"Path: {OUR_HOP}"

SEMANTIC: dict[str, Callable[[bytes], None]] = {
    "badbranch": _rejected(400, "branch"),
    "insuf": _rejected(400, "missing From"),
    "unkscm": _rejected(416, "nobodyknowsthisscheme"),
    "novelsc": _rejected(416, "soap.beep"),
    "unksm2": _forwarded(False, _PATH, b"\r\nTo: isbn:2983792873\r\nFrom: <http://www.example.com>;tag=3234233\r\n"),
    "bext01": _bext01,
    "invut": _forwarded(True, _RR, b"\r\nContent-Type: application/unknownformat\r\n"),
    "regaut01": _forwarded(False, _PATH, b"\r\nAuthorization: NoOneKnowsThisScheme opaque-data=here\r\n"),
    "multi01": _multi01,
    "mcl01": _rejected(400, "more than one Content-Length"),
    "bcast": _bcast,
    "zeromf": _rejected(483, "Too Many Hops"),
    "cparam01": _forwarded(False, _PATH, b"\r\nContact: sip:+19725552222@gw1.example.net;unknownparam\r\n"),
    "cparam02": _forwarded(False, _PATH, b"\r\nContact: <sip:+19725552222@gw1.example.net;unknownparam>\r\n"),
    "regescrt": _forwarded(False, _PATH, b"\r\nM: <sip:user@example.com?Route=%3Csip:sip.example.com%3E>\r\n"),
    "sdp01": _forwarded(True, _RR, b"\r\nAccept: text/nobodyKnowsThis\r\n"),
    "inv2543": _forwarded(True, _RR, b"\r\nVia: SIP/2.0/UDP iftgw.example.com"),
}


@pytest.mark.parametrize("row", params(SUITE, "rfc4475_class", frozenset({"semantic"})))
def test_semantic(row: dict[str, str] | None) -> None:
    data = load(SUITE, row)
    assert row is not None
    SEMANTIC[row["name"]](data)


def test_contact_parameter_placement() -> None:
    """cparam01: a param after a bare URI is a Contact param; cparam02: inside <> it is a URI param."""
    one = parse_datagram(load(SUITE, _row("cparam01")))
    two = parse_datagram(load(SUITE, _row("cparam02")))
    c1 = parse_name_addr(one.values("contact")[0], "Contact")
    c2 = parse_name_addr(two.values("contact")[0], "Contact")
    assert (c1.uri, c1.params) == ("sip:+19725552222@gw1.example.net", (("unknownparam", None),))
    assert (c2.uri, c2.params) == ("sip:+19725552222@gw1.example.net;unknownparam", ())
    esc = parse_datagram(load(SUITE, _row("regescrt")))
    assert (
        parse_uri(parse_name_addr(esc.values("contact")[0], "Contact").uri).headers == "Route=%3Csip:sip.example.com%3E"
    )


def _row(name: str) -> dict[str, str] | None:
    return next((row for row in manifest(SUITE) if row["name"] == name), None)
