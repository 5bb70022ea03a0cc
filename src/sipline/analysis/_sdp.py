"""The few SDP facts the analysis needs (RFC 4566/8866): codecs, addresses, ports."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SdpSummary", "read_sdp"]

#: RFC 3551 static payload types.
_STATIC = {0: "PCMU", 3: "GSM", 4: "G723", 8: "PCMA", 9: "G722", 18: "G729", 13: "CN"}


@dataclass(frozen=True, slots=True)
class SdpSummary:
    """Codecs of the first audio stream (in preference order), connection addresses
    (session and media level) and media ports."""

    codecs: tuple[str, ...]
    addresses: tuple[str, ...]
    ports: tuple[int, ...]

    @property
    def audio_codecs(self) -> tuple[str, ...]:
        return tuple(c for c in self.codecs if c.lower() not in ("telephone-event", "cn"))


def read_sdp(body: bytes) -> SdpSummary | None:
    """``None`` when ``body`` is not SDP."""
    if not body.lstrip().startswith(b"v="):
        return None
    text = body.decode("utf-8", "replace")
    payloads: list[int] = []
    names: dict[int, str] = {}
    addresses: list[str] = []
    ports: list[int] = []
    in_audio = False
    for line in text.splitlines():
        key, _, value = line.strip().partition("=")
        if key == "m":
            fields = value.split()
            in_audio = bool(fields) and fields[0] == "audio" and not payloads
            if len(fields) > 1 and fields[1].split("/")[0].isdigit():
                ports.append(int(fields[1].split("/")[0]))
            if in_audio:
                payloads = [int(f) for f in fields[3:] if f.isdigit()]
        elif key == "c":
            fields = value.split()
            if len(fields) >= 3:
                addresses.append(fields[2].split("/")[0])
        elif key == "a" and value.startswith("rtpmap:"):
            number, _, encoding = value[7:].partition(" ")
            if number.isdigit():
                names.setdefault(int(number), encoding.split("/")[0])
    codecs = tuple(names.get(pt) or _STATIC.get(pt) or f"PT{pt}" for pt in payloads)
    return SdpSummary(codecs, tuple(addresses), tuple(ports))
