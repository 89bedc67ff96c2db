"""Number plans, the site's addresses and DIDs, and the address pools each kind of caller uses.

The site is a hosted PBX in San Francisco behind the proxy at :data:`SITE_HOST`: three NANP
DID blocks of 1000 numbers (85 % assigned), extensions 2000-2149 on ``pbx.example.com``.
Numbers are digit strings without ``+`` unless a UA would dial them with one; dial strings
keep the habits of the dialler (``9`` for an outside line, ``011``/``00`` international).
Address pools are disjoint per kind of caller, except that calls transiting the interconnect
carrier arrive from its SBCs (:data:`CARRIER_SBCS`) whoever placed them.
"""

from __future__ import annotations

import random
import zlib

from .messages import digits

SITE_HOST = "203.0.113.10"
SITE_DOMAIN = "pbx.example.com"

#: (prefix of 7 digits incl. the country code 1, first 4-digit suffix, how many).
DID_BLOCKS: tuple[tuple[str, int, int], ...] = (
    ("1415801", 2000, 1000),
    ("1628220", 4000, 1000),
    ("1510555", 7000, 1000),
)
EXTENSIONS = range(2000, 2150)

LOCAL_AREAS = (415, 628, 650, 510)
AREA_CODES: tuple[int, ...] = (
    201,
    202,
    206,
    212,
    213,
    214,
    303,
    305,
    312,
    404,
    408,
    503,
    512,
    602,
    617,
    646,
    702,
    713,
    718,
    720,
)
AREA_CODES += (773, 804, 818, 832, 858, 917, 919, 925, 949, 971, 972, 916, 619, 559, 808, 907, 615, 614, 412, 216)
TOLL_FREE = (800, 833, 844, 855, 866, 877, 888)

#: Countries businesses call: (country code, national significant number length).
BUSINESS_COUNTRIES: tuple[tuple[str, int], ...] = (
    ("44", 10),
    ("49", 11),
    ("33", 9),
    ("81", 10),
    ("91", 10),
    ("52", 10),
    ("86", 11),
    ("61", 9),
)
BUSINESS_COUNTRIES += (("63", 10), ("34", 9))

#: International revenue share fraud destinations (E.164 prefix without +) and the length of
#: their numbers in digits, code included: Cuba, Somalia, GMSS satellite (+881), international
#: networks (+882), Maldives, Pacific islands (+675 ... +690), UK 09 premium rate (+44 9).
HIGH_RISK_LENGTHS: dict[str, int] = {
    "53": 10, "252": 12, "881": 12, "882": 12, "960": 10, "675": 11, "677": 10, "678": 10,
    "682": 8, "686": 11, "688": 8, "690": 7, "449": 12,
}  # fmt: skip
HIGH_RISK = tuple(HIGH_RISK_LENGTHS)

#: Wangiri origins (with number lengths as above): international networks, Cuba, Somalia and
#: the usual African / Eastern European callback-bait ranges.
WANGIRI_LENGTHS: dict[str, int] = {
    "882": 12, "881": 12, "53": 10, "252": 12, "216": 11, "222": 11, "225": 13, "231": 11,
    "243": 12, "269": 10, "373": 11, "375": 12, "381": 11, "675": 11,
}  # fmt: skip
WANGIRI_ORIGINS = tuple(WANGIRI_LENGTHS)

#: The interconnect carrier's SBCs (fixed: a carrier's addresses do not change between runs).
CARRIER_SBCS = ("208.93.64.21", "208.93.64.22", "208.93.66.21", "208.93.66.22")

#: The second interconnect carrier's SBCs (fixed, like :data:`CARRIER_SBCS`).
REGIONAL_SBCS = ("199.255.120.10", "199.255.120.11", "199.255.121.10", "199.255.121.11", "216.115.69.140")

#: Addresses that carry people and bots at once: the head office's NAT (:func:`.phones.office_pbx`:
#: a compromised PC behind it runs a scanner) and one small business's PBX address
#: (:func:`.trunks.smb_trunks`: a dialler behind the same NAT). Fixed, so attack profiles can
#: reach them; the carriers' SBCs (:data:`CARRIER_SBCS`) are shared the same way.
SHARED_OFFICE = "64.124.18.40"
SHARED_SMB = "50.201.7.23"

POOLS: dict[str, tuple[str, ...]] = {
    "office": ("64.124.0.0/16",),
    "smb": ("50.200.0.0/14", "96.64.0.0/11", "66.75.0.0/16"),
    "residential": ("73.0.0.0/10", "98.192.0.0/10", "24.0.0.0/12", "76.80.0.0/12"),
    "hospital": ("152.2.0.0/16",),
    "contact_platform": ("38.104.0.0/16", "208.78.160.0/21"),
    "call_centre": ("66.160.0.0/16",),
    "mobile_tmobile": ("172.56.0.0/14",),
    "mobile_att": ("107.77.192.0/18",),
    "mobile_verizon": ("174.192.0.0/10",),
    "scanner": ("45.134.0.0/16", "185.243.0.0/16", "193.46.0.0/16", "89.248.160.0/19", "212.83.0.0/16"),
    "robodialer": ("23.94.0.0/15", "104.168.0.0/14", "162.212.0.0/16"),
    "botnet": ("2.80.0.0/12", "31.0.0.0/12", "37.96.0.0/12", "78.0.0.0/11", "95.0.0.0/11", "177.0.0.0/10")
    + ("186.0.0.0/11", "190.0.0.0/11", "201.0.0.0/11", "113.160.0.0/11", "14.160.0.0/11", "88.224.0.0/11"),
    "wangiri": ("196.200.0.0/16", "41.215.0.0/16", "197.156.0.0/16"),
    "toll_fraud": ("102.165.0.0/16", "154.16.0.0/16", "91.215.0.0/16", "5.188.0.0/16", "146.70.0.0/16"),
}

FIRST_NAMES: tuple[str, ...] = (
    "Alice",
    "Bob",
    "Carol",
    "David",
    "Erin",
    "Frank",
    "Grace",
    "Heidi",
    "Ivan",
    "Judy",
    "Karl",
    "Linda",
)
FIRST_NAMES += ("Maria", "Nina", "Oscar", "Priya", "Quinn", "Raj", "Sofia", "Tom", "Uma", "Victor", "Wei", "Yusuf")
LAST_NAMES: tuple[str, ...] = (
    "Smith",
    "Garcia",
    "Nguyen",
    "Patel",
    "Kim",
    "Johnson",
    "Chen",
    "Lopez",
    "Brown",
    "Davis",
    "Miller",
)
LAST_NAMES += ("Wilson", "Moore", "Taylor", "Anderson", "Thomas", "Martin", "Lee", "Walker", "Hall", "Young")


def did(prefix: str, suffix: int) -> str:
    return f"{prefix}{suffix:04d}"


def all_dids() -> list[str]:
    """Every site DID, in numeric order."""
    return sorted(did(p, first + i) for p, first, n in DID_BLOCKS for i in range(n))


def assigned(number: str) -> bool:
    """Whether a site DID is in service (a fixed 85 %): unassigned ones answer 404."""
    return zlib.crc32(number.encode()) % 100 < 85


def main_numbers() -> list[str]:
    """The published main number of each block (the first DID)."""
    return [did(p, first) for p, first, _ in DID_BLOCKS]


def nanp(rng: random.Random, area: int | None = None) -> str:
    """A North American number ``1NPANXXXXXX`` (NXX never starts with 0/1, never N11)."""
    npa = area if area is not None else rng.choice(AREA_CODES)
    nxx = rng.randint(200, 999)
    while nxx % 100 == 11:
        nxx = rng.randint(200, 999)
    return f"1{npa}{nxx}{rng.randrange(10000):04d}"


def local_number(rng: random.Random) -> str:
    return nanp(rng, rng.choice(LOCAL_AREAS))


#: Premium-rate ranges of the business countries (E.164 digits): German 0900, French 089,
#: UK 09 and 087x. People's international calls go to ordinary numbers, never these.
PREMIUM_RANGES = ("49900", "3389", "449", "4487")


def international(rng: random.Random) -> str:
    """A business-like international number as ``CC`` + national number (no access code),
    never in a premium-rate range (:data:`PREMIUM_RANGES`)."""
    while True:
        cc, length = rng.choice(BUSINESS_COUNTRIES)
        lead = rng.choice("1237") if cc == "44" else ""  # UK geographic/mobile, not 09 premium
        number = cc + lead + digits(rng, length - len(lead))
        if not number.startswith(PREMIUM_RANGES):
            return number


def high_risk(rng: random.Random) -> str:
    """An IRSF destination in E.164 digits (UK 09 included as ``449...``)."""
    prefix = rng.choice(HIGH_RISK)
    return prefix + digits(rng, HIGH_RISK_LENGTHS[prefix] - len(prefix))


def wangiri_origin(rng: random.Random) -> str:
    """A wangiri bait number in E.164 digits."""
    prefix = rng.choice(WANGIRI_ORIGINS)
    return prefix + digits(rng, WANGIRI_LENGTHS[prefix] - len(prefix))


def neighbour(rng: random.Random, callee: str) -> str:
    """A caller ID sharing the callee's NPA-NXX (robocallers' neighbour spoofing)."""
    return callee[:7] + f"{rng.randrange(10000):04d}"


def dial_international(rng: random.Random, e164: str, weights: tuple[float, float, float, float]) -> str:
    """An international number as dialled: ``011``, ``00``, ``+`` or ``9011`` (outside line)."""
    return rng.choices(("011", "00", "+", "9011"), weights)[0] + e164


def international_part(dialled: str) -> str | None:
    """Undo :func:`dial_international`: the E.164 digits of an international dial string."""
    for access in ("+", "9011", "011", "00"):
        if dialled.startswith(access):
            return dialled[len(access) :]
    return None


def person(rng: random.Random) -> str:
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
