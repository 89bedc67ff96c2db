"""Spread one trunk's UDP calls over a node's workers, by transaction (RFC 3261 §17.2.3).

The workers share the public UDP port with ``SO_REUSEPORT``. By default the kernel picks a
worker by address 4-tuple, so every call of a trunk (one SBC address and port) lands on the
same worker however many there are. A classic BPF program attached to the port's group
(``SO_ATTACH_REUSEPORT_CBPF``) picks the worker by a hash of the datagram's first header line
instead. Callers put the top Via first; its ``branch`` names the transaction (§8.1.1.7), and
an INVITE's retransmissions, its CANCEL (§9.1: "a single Via header field value matching the
top Via value in the request being cancelled") and the ACK of a non-2xx answer (§17.1.1.3)
carry it unchanged, so they reach the worker that holds the INVITE, while each new call hashes
anew. Requests of a dialog (ACK of a 2xx, BYE, re-INVITE) carry new branches and may land on
any worker: those are relayed by whichever gets them (see :mod:`antibot.proxy.siblings`).

The kernel runs the program with the UDP payload at offset 0 and takes its result as an index
into the group's sockets (their bind order); an index past the last (no line end in the first
:data:`SCAN` bytes) falls back to the 4-tuple hash. :func:`worker_index` is the same
computation in Python, the reference the tests hold the kernel to.
"""

from __future__ import annotations

import ctypes
import socket
import struct
from typing import Final

#: ``SO_ATTACH_REUSEPORT_CBPF`` (Linux 4.5+, ``asm-generic/socket.h``).
SO_ATTACH_REUSEPORT_CBPF: Final = 51
#: Where the first line end is looked for (the request line's length, at most).
FIRST: Final = 12
SCAN: Final = 512
#: Bytes of the first header line hashed (a top Via's branch is within them in practice).
LINE: Final = 128
_FNV_OFFSET: Final = 2166136261
_FNV_PRIME: Final = 16777619
#: Fallback: no line end found, the kernel's own 4-tuple choice.
_NO_CHOICE: Final = 0xFFFFFFFF

# classic BPF opcodes (linux/filter.h)
_LD_H_ABS, _LD_B_IND, _LD_MEM, _LD_IMM = 0x28, 0x50, 0x60, 0x00
_LDX_IMM, _LDX_MEM, _ST, _STX = 0x01, 0x61, 0x02, 0x03
_MUL_K, _XOR_X, _RSH_K, _MOD_K = 0x24, 0xAC, 0x74, 0x94
_JA, _JEQ_K, _RET_A, _RET_K, _TAX = 0x05, 0x15, 0x16, 0x06, 0x07

Insn = tuple[int, int, int, int]  # code, jt, jf, k


def program(workers: int) -> list[Insn]:
    """The classic BPF program that maps a datagram to one of ``workers`` sockets."""
    if not 1 <= workers <= 1024:
        raise ValueError("workers: 1 to 1024")
    find: list[Insn] = []
    positions = range(FIRST, SCAN)
    for n, p in enumerate(positions):
        # if bytes p, p+1 are CRLF: X = p + 2, jump to the hash (past the remaining tests)
        left = (len(positions) - n - 1) * 4 + 1  # the tests after this one, and the fallback return
        find += [(_LD_H_ABS, 0, 0, p), (_JEQ_K, 0, 2, 0x0D0A), (_LDX_IMM, 0, 0, p + 2), (_JA, 0, 0, left)]
    find.append((_RET_K, 0, 0, _NO_CHOICE))
    # M[2] = the line's start, M[0] = the hash; per byte until CR: M[0] = M[0] * prime ^ byte
    hashed: list[Insn] = [(_STX, 0, 0, 2), (_LD_IMM, 0, 0, _FNV_OFFSET), (_ST, 0, 0, 0)]
    per_byte = 10
    for i in range(LINE):
        to_end = (LINE - i - 1) * per_byte + 6  # the bytes after this one, then this one's own rest
        hashed += [
            (_LDX_MEM, 0, 0, 2),
            (_LD_B_IND, 0, 0, i),
            (_JEQ_K, 0, 1, 0x0D),
            (_JA, 0, 0, to_end),
            (_ST, 0, 0, 1),
            (_LD_MEM, 0, 0, 0),
            (_MUL_K, 0, 0, _FNV_PRIME),
            (_LDX_MEM, 0, 0, 1),
            (_XOR_X, 0, 0, 0),
            (_ST, 0, 0, 0),
        ]
    # final mix: A = h ^ (h >> 16); the socket index A % workers
    hashed += [
        (_LD_MEM, 0, 0, 0),
        (_RSH_K, 0, 0, 16),
        (_TAX, 0, 0, 0),
        (_LD_MEM, 0, 0, 0),
        (_XOR_X, 0, 0, 0),
        (_MOD_K, 0, 0, workers),
        (_RET_A, 0, 0, 0),
    ]
    return find + hashed


def worker_index(data: bytes, workers: int) -> int | None:
    """The socket index :func:`program` gives ``data`` (None: the kernel's own choice). A read
    past the datagram ends a classic BPF program with 0, so does it here."""
    start = -1
    for p in range(FIRST, SCAN):
        if p + 2 > len(data):
            return 0
        if data[p] == 0x0D and data[p + 1] == 0x0A:
            start = p + 2
            break
    if start < 0:
        return None
    h = _FNV_OFFSET
    for i in range(LINE):
        if start + i >= len(data):
            return 0
        byte = data[start + i]
        if byte == 0x0D:
            break
        h = ((h * _FNV_PRIME) & 0xFFFFFFFF) ^ byte
    return (h ^ (h >> 16)) % workers


def attach(sock: socket.socket, workers: int) -> None:
    """Attach the program to ``sock``'s ``SO_REUSEPORT`` group (one socket of the group is
    enough; attaching again replaces it). Raises :class:`OSError` where the kernel has no
    ``SO_ATTACH_REUSEPORT_CBPF``."""
    insns = program(workers)
    raw = b"".join(struct.pack("HBBI", *insn) for insn in insns)
    buf = ctypes.create_string_buffer(raw, len(raw))
    fprog = struct.pack("HL", len(insns), ctypes.addressof(buf))  # struct sock_fprog
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, fprog)
