"""G.711 µ-law (PCMU) and A-law (PCMA), ITU-T G.711, in pure Python tables.

``audioop`` is deprecated (PEP 594) and gone in Python 3.13, so the companding is done
here: the segment/mantissa algorithms of G.711 run once at import to fill lookup
tables, and the per-packet work is ``bytes.translate`` (transcoding) or one table look-up
per sample (encode/decode).  Linear samples are signed 16-bit, native byte order.
"""

from __future__ import annotations

from array import array

__all__ = [
    "ALAW_TO_ULAW",
    "ULAW_TO_ALAW",
    "alaw_decode",
    "alaw_encode",
    "alaw_to_ulaw",
    "linear_to_alaw",
    "linear_to_ulaw",
    "ulaw_decode",
    "ulaw_encode",
    "ulaw_to_alaw",
]

_ULAW_BIAS = 0x84  # G.711 µ-law: 33 on the 14-bit scale, 132 on the 16-bit one
_ULAW_CLIP = 32635
# A-law segment end points on the 13-bit magnitude scale (G.711 table 1a).
_ALAW_SEGMENT_ENDS = (0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF)


def _ulaw_from_14bit(value: int) -> int:
    """G.711 section 3.2 on the 14-bit scale (the 16-bit sample shifted right by 2,
    floor for negative values), bits inverted on the wire."""
    mask = 0xFF
    if value < 0:
        mask = 0x7F
        value = -value
    value = min(value, _ULAW_CLIP >> 2) + (_ULAW_BIAS >> 2)
    segment = value.bit_length() - 6  # 0..7
    return (((segment << 4) | ((value >> (segment + 1)) & 0x0F)) ^ mask) & 0xFF


def linear_to_ulaw(sample: int) -> int:
    """One 16-bit sample to a µ-law octet."""
    return _ULAW_ENCODE[(sample >> 2) + 8192]


def _ulaw_to_linear(octet: int) -> int:
    octet = ~octet & 0xFF
    exponent = (octet >> 4) & 0x07
    magnitude = ((((octet & 0x0F) << 3) + _ULAW_BIAS) << exponent) - _ULAW_BIAS
    return -magnitude if octet & 0x80 else magnitude


def linear_to_alaw(sample: int) -> int:
    """One 16-bit sample to an A-law octet (G.711 section 3.3, even bits inverted)."""
    value = sample >> 3  # 13-bit scale
    if value >= 0:
        mask = 0xD5  # sign bit set for positive values, then the 0x55 inversion
    else:
        mask = 0x55
        value = -value - 1
    segment = next((i for i, end in enumerate(_ALAW_SEGMENT_ENDS) if value <= end), 8)
    if segment == 8:
        return 0x7F ^ mask
    shift = 1 if segment < 2 else segment
    return ((segment << 4) | ((value >> shift) & 0x0F)) ^ mask


def _alaw_to_linear(octet: int) -> int:
    octet ^= 0x55
    magnitude = (octet & 0x0F) << 4
    segment = (octet & 0x70) >> 4
    if segment == 0:
        magnitude += 8
    else:
        magnitude = (magnitude + 0x108) << (segment - 1)
    return magnitude if octet & 0x80 else -magnitude


_ULAW_DECODE = array("h", (_ulaw_to_linear(i) for i in range(256)))
_ALAW_DECODE = array("h", (_alaw_to_linear(i) for i in range(256)))
# Encoders indexed by the sample's top 14 (µ-law) / 13 (A-law) bits: exact for G.711,
# whose quantizers ignore the low bits.
_ULAW_ENCODE = bytes(_ulaw_from_14bit(i - 8192) for i in range(16384))
_ALAW_ENCODE = bytes(linear_to_alaw((i - 4096) << 3) for i in range(8192))

#: ``payload.translate(ULAW_TO_ALAW)`` transcodes a PCMU payload to PCMA (and back).
ULAW_TO_ALAW = bytes(_ALAW_ENCODE[(_ULAW_DECODE[i] >> 3) + 4096] for i in range(256))
ALAW_TO_ULAW = bytes(_ULAW_ENCODE[(_ALAW_DECODE[i] >> 2) + 8192] for i in range(256))


def ulaw_encode(samples: array[int]) -> bytes:
    """Signed 16-bit samples (``array('h')``) to µ-law octets."""
    table = _ULAW_ENCODE
    return bytes([table[(s >> 2) + 8192] for s in samples])


def alaw_encode(samples: array[int]) -> bytes:
    table = _ALAW_ENCODE
    return bytes([table[(s >> 3) + 4096] for s in samples])


def ulaw_decode(data: bytes) -> array[int]:
    table = _ULAW_DECODE
    return array("h", [table[b] for b in data])


def alaw_decode(data: bytes) -> array[int]:
    table = _ALAW_DECODE
    return array("h", [table[b] for b in data])


def ulaw_to_alaw(data: bytes) -> bytes:
    return data.translate(ULAW_TO_ALAW)


def alaw_to_ulaw(data: bytes) -> bytes:
    return data.translate(ALAW_TO_ULAW)
