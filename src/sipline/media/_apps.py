"""Media applications the dialplan runs: where their RTP endpoints bind and their
sound files live (``LocalMedia``), echo, and recording a call through the relay.

``LocalMedia(address=..., sounds=..., recordings=...)`` (or ``LocalMedia.from_relay``
to share the relay's port range) opens ``RtpEndpoint``s and reads sounds (cached);
``Echo(endpoint)`` sends each received packet's payload back; ``RecordingMediaSession``
wraps the relay's per-call session and writes both legs to a stereo WAV.
"""

from __future__ import annotations

import logging
from array import array
from pathlib import Path, PurePath

from sipline.media._endpoint import RtpEndpoint
from sipline.media._packets import rtp_payload
from sipline.media._ports import PortAllocator
from sipline.media._recorder import WavRecorder
from sipline.media._relay import RtpRelay
from sipline.media._rtp import RtpHeader
from sipline.media._session import RelayMediaSession
from sipline.media._wav import MediaFileError, read_wav

__all__ = ["Echo", "LocalMedia", "RecordingMediaSession"]

logger = logging.getLogger("sipline.media")


class LocalMedia:
    """sipline's own media endpoints (one per call that the dialplan answers)."""

    def __init__(
        self,
        *,
        address: str = "127.0.0.1",
        advertised_address: str | None = None,
        allocator: PortAllocator | None = None,
        rtp_ports: str = "16384-32767",
        sounds: str | Path = ".",
        recordings: str | Path = ".",
    ) -> None:
        self.address = address
        self.advertised_address = advertised_address or address
        self.allocator = allocator or PortAllocator(rtp_ports)
        self.sounds = Path(sounds)
        self.recordings = Path(recordings)
        self._cache: dict[Path, array[int]] = {}

    @classmethod
    def from_relay(
        cls, relay: RtpRelay, *, sounds: str | Path = ".", recordings: str | Path = "."
    ) -> LocalMedia:
        """Endpoints on the relay's address and port range (one allocator, no clashes)."""
        return cls(
            address=relay.config.address,
            advertised_address=relay.advertised_address,
            allocator=relay.allocator,
            sounds=sounds,
            recordings=recordings,
        )

    def open_endpoint(self) -> RtpEndpoint:
        return RtpEndpoint(self.allocator, self.address)

    def sound(self, name: str) -> array[int]:
        """The samples of a sound file (8 kHz mono), read once; ``MediaFileError``."""
        path = _inside(self.sounds, name)
        samples = self._cache.get(path)
        if samples is None:
            samples = self._cache[path] = read_wav(path)
        return samples

    def recording_path(self, name: str) -> Path:
        path = _inside(self.recordings, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path


def _inside(base: Path, name: str) -> Path:
    """``name`` relative to ``base`` (an absolute name as is); a name that climbs out
    with ``..`` (a dialplan capture from a dialled number) is refused."""
    if ".." in PurePath(name).parts:
        raise MediaFileError(f"{name}: '..' is not allowed in sound and recording names")
    return base / name


class Echo:
    """Sends every received RTP packet's payload back to its sender, with our own
    SSRC and sequence numbers and timestamps spaced as the sender's were."""

    __slots__ = ("_base", "endpoint", "packets")

    def __init__(self, endpoint: RtpEndpoint) -> None:
        self.endpoint = endpoint
        self._base: tuple[int, int, int] | None = None  # (their SSRC, their ts, our ts)
        self.packets = 0

    def receive(self, data: bytes, arrival: float) -> None:
        header = RtpHeader.parse(data)
        payload = rtp_payload(data)
        if header is None or payload is None:
            return
        packetizer = self.endpoint.packetizer
        if self._base is None or self._base[0] != header.ssrc:
            self._base = (header.ssrc, header.timestamp, packetizer.timestamp)
        timestamp = (self._base[2] + header.timestamp - self._base[1]) & 0xFFFFFFFF
        out = RtpHeader(
            header.marker, header.payload_type, packetizer.sequence, timestamp, packetizer.ssrc
        )
        packetizer.sequence = (packetizer.sequence + 1) & 0xFFFF
        self.endpoint.send(out.pack(payload))
        self.packets += 1


class RecordingMediaSession:
    """The relay's session of a bridged call, recorded: the caller's audio on the
    left channel, the callee's on the right (``record FILE`` in the dialplan)."""

    def __init__(self, inner: RelayMediaSession, path: Path) -> None:
        self.inner = inner
        self.path = path
        self.recorder: WavRecorder | None = None

    def offer(self, sdp: bytes, *, from_caller: bool = True) -> bytes:
        return self.inner.offer(sdp, from_caller=from_caller)

    def answer(self, sdp: bytes, *, from_caller: bool = False) -> bytes:
        answer = self.inner.answer(sdp, from_caller=from_caller)
        self._tap()
        return answer

    def _tap(self) -> None:
        if self.recorder is None:
            try:
                self.recorder = WavRecorder(self.path, self.inner.relay.clock())
            except OSError as error:
                logger.error("cannot record to %s: %s", self.path, error)
                return
        recorder = self.recorder
        for channel, side in enumerate(("caller", "callee")):
            legs = self.inner.legs(side)
            if legs:  # the first stream: the call's audio
                legs[0].tap = lambda data, now, c=channel: recorder.receive(c, data, now)

    def close(self) -> None:
        self.inner.close()
        if self.recorder is not None:
            self.recorder.close()
