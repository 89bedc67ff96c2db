"""How a decision is written in the call log: the feature vector and the explanation as text.

The proxy writes (:func:`features_text`, :func:`explanation_json`, one per INVITE, so cheap);
the admin API and the tests read (:func:`read_features`, which also reads the JSON form older
builds wrote). Pure: no I/O.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import struct
from collections.abc import Sequence
from typing import Final

from ..proxy.effects import Addr
from .features import FEATURE_NAMES

#: ``"<name>":`` of each feature, in :data:`FEATURE_NAMES` order.
_KEYS: Final = tuple(f"{json.dumps(name)}:" for name in FEATURE_NAMES)
#: JSON text of ``round(value, 4)`` by value: feature values repeat (flags, log counts of small
#: integers, small ratios), and rounding + repr cost ~1 µs each. Emptied when full.
_NUMBERS: Final[dict[float, str]] = {}
_NUMBERS_MAX: Final = 4096  # the explanation's contributions, and the JSON fallback


def _number(value: float) -> str:
    text = _NUMBERS.get(value)
    if text is None:
        rounded = round(value, 4)
        text = repr(rounded) if math.isfinite(rounded) else json.dumps(rounded)
        if len(_NUMBERS) >= _NUMBERS_MAX:
            _NUMBERS.clear()
        _NUMBERS[value] = text
    return text


def features_json(vector: Sequence[float]) -> str:
    """``{name: round(value, 4)}`` over :data:`FEATURE_NAMES` as compact JSON, features that are
    0 left out (readers take a missing feature as 0, as training does)."""
    parts = []
    for i in range(len(vector)):
        value = vector[i]
        if value != 0.0:
            parts.append(_KEYS[i] + _number(value))
    return "{" + ",".join(parts) + "}"


#: The call log's form of a feature vector: ``FEATURES_TAG`` + base64 of the vector as
#: little-endian float32 in :data:`FEATURE_NAMES` order. The tag names that order, so a build
#: with other features reads nothing rather than misnamed values. Packing costs ~4 µs per
#: INVITE against ~37 µs for JSON of the rounded values (and ~420 bytes against ~620).
FEATURES_TAG: Final = "f32:" + hashlib.sha256("\n".join(FEATURE_NAMES).encode()).hexdigest()[:8] + ":"
_PACKED: Final = struct.Struct(f"<{len(FEATURE_NAMES)}f")


def features_text(vector: Sequence[float]) -> str:
    """The vector for the call log, packed (see :data:`FEATURES_TAG`); JSON when a value does
    not fit a float32."""
    try:
        # binascii directly: base64.b64encode is an interpreted wrapper around the same call
        return FEATURES_TAG + binascii.b2a_base64(_PACKED.pack(*vector), newline=False).decode("ascii")
    except (OverflowError, struct.error):
        return features_json(vector)


def read_features(text: str) -> dict[str, float] | None:
    """A call-log entry's features by name, from either form (:func:`features_text`, or the
    JSON of :func:`features_json`, whose missing features are 0); None when the text is not
    one of them or was packed by a build with other features. Packed values are float32,
    shown to 7 significant digits."""
    if text.startswith("f32:"):
        if not text.startswith(FEATURES_TAG):
            return None
        try:
            values = _PACKED.unpack(base64.b64decode(text[len(FEATURES_TAG) :], validate=True))
        except (binascii.Error, struct.error):
            return None
        return {name: float(f"{value:.7g}") for name, value in zip(FEATURE_NAMES, values, strict=True)}
    try:
        raw = json.loads(text)
    except ValueError:
        return None
    if not isinstance(raw, dict):
        return None
    out = dict.fromkeys(FEATURE_NAMES, 0.0)
    for name, value in raw.items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[str(name)] = float(value)
    return out


def explanation_json(top: Sequence[tuple[str, float]]) -> str:
    """``[[name, round(contribution, 4)], ...]`` as compact JSON (names are plain identifiers)."""
    return "[" + ",".join(f'["{name}",{_number(c)}]' for name, c in top) + "]"


def link_fields(source: Addr | None) -> dict[str, str]:
    """The call-log fields of the transport a call came over and, over TLS, of its handshake:
    ``transport``, and ``tls_version``, ``tls_cipher``, ``tls_sni`` ("" when the client sent
    none) and ``tls_client_cert`` ("1" or "0"). None: a call whose source is not known (UDP)."""
    if source is None:
        return {"transport": "udp"}
    tls = source.tls
    if tls is None:
        return {"transport": source.transport}
    return {
        "transport": source.transport,
        "tls_version": tls.version[:32],
        "tls_cipher": tls.cipher[:100],
        "tls_sni": tls.sni[:253],
        "tls_client_cert": "1" if tls.client_cert else "0",
    }
