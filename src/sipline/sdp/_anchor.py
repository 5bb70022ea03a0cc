"""B2BUA-side SDP rewriting: anchor the media of a description on the relay, and edit
the formats of a media section (for transcoding)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sipline.sdp._codecs import RtpMap
from sipline.sdp._model import (
    Attribute,
    Connection,
    MediaDescription,
    Origin,
    SdpLine,
    SessionDescription,
)

__all__ = ["ICE_ATTRIBUTES", "add_format", "anchor", "keep_formats", "strip_ice"]

#: RFC 8839 sections 5.1-5.6 (and RFC 8840's end-of-candidates): meaningless once the
#: relay anchors the media, and harmful (the phones would try to reach each other).
ICE_ATTRIBUTES = frozenset(
    {
        "candidate",
        "remote-candidates",
        "end-of-candidates",
        "ice-lite",
        "ice-mismatch",
        "ice-ufrag",
        "ice-pwd",
        "ice-options",
        "ice-pacing",
    }
)


def _is_ice(attribute: Attribute) -> bool:
    return attribute.name in ICE_ATTRIBUTES


def strip_ice(sdp: SessionDescription) -> SessionDescription:
    """Drop every ICE attribute, session and media level."""
    return sdp.without_attributes(_is_ice).with_media(
        media.without_attributes(_is_ice) for media in sdp.media
    )


def _anchor_media(media: MediaDescription, port: int, connection: Connection) -> MediaDescription:
    if media.connection is not None:
        media = media.with_connection(connection)  # also on disabled streams: no leak
    if port == 0 or media.port == 0:
        return media.with_port(0).without_attributes(lambda a: a.name == "rtcp")
    media = media.with_port(port)
    # RFC 3605: RTCP to the relay's odd port (RFC 3550 section 11), same address.
    return media.with_attribute("rtcp", str(port + 1))


def anchor(
    sdp: SessionDescription,
    address: str,
    ports: Sequence[int],
    *,
    origin: Origin | None = None,
) -> SessionDescription:
    """``sdp`` with its media going to ``address``: ``c=`` lines rewritten, ``m=`` line
    ``i`` on ``ports[i]`` (0, or a missing entry, disables that stream), ``a=rtcp`` set
    to the port + 1, ICE removed, and the ``o=`` line replaced by ``origin`` if given.

    Codecs, ``a=rtcp-mux``, direction and unknown lines are kept as they were."""
    connection = Connection.for_address(address)
    media = [
        _anchor_media(m, ports[i] if i < len(ports) else 0, connection)
        for i, m in enumerate(sdp.media)
    ]
    result = strip_ice(sdp.with_media(media))
    if sdp.connection is not None or any(m.connection is None for m in sdp.media):
        result = result.with_connection(connection)
    if origin is not None:
        result = result.with_origin(origin)
    return result


def keep_formats(media: MediaDescription, payload_types: Iterable[int]) -> MediaDescription:
    """Only ``payload_types`` (in that order) on the ``m=`` line, and only their
    ``a=rtpmap``/``a=fmtp`` lines."""
    keep = [str(pt) for pt in payload_types]
    kept = set(keep)

    def foreign(attribute: Attribute) -> bool:
        if attribute.name not in ("rtpmap", "fmtp") or attribute.value is None:
            return False
        return attribute.value.split(" ", 1)[0] not in kept

    return media.with_formats(keep).without_attributes(foreign)


def add_format(
    media: MediaDescription, rtpmap: RtpMap, fmtp: str | None = None
) -> MediaDescription:
    """Append a payload format (last: lowest preference) with its ``a=rtpmap`` placed
    after the existing rtpmap/fmtp lines."""
    if str(rtpmap.payload_type) in media.formats:
        return media
    new: list[SdpLine] = [("a", f"rtpmap:{rtpmap.value}")]
    if fmtp is not None:
        new.append(("a", f"fmtp:{rtpmap.payload_type} {fmtp}"))
    lines = list(media.lines)
    last = max(
        (i for i, (k, v) in enumerate(lines) if k == "a" and v.startswith(("rtpmap:", "fmtp:"))),
        default=len(lines) - 1,
    )
    lines[last + 1 : last + 1] = new
    return media.with_formats([*media.formats, str(rtpmap.payload_type)]).with_lines(lines)
