"""The media edge: RTP relay (asyncio sockets), G.711, and the B2BUA's media hook.

``RtpRelay(RelayConfig(...))`` owns the port range; ``RelayMediaSession(relay, call_id,
on_timeout=...)`` (or ``relay_session_factory(relay, on_timeout)``) is the per-call
object the B2BUA hands each SDP to; ``BypassMediaSession`` passes SDP unchanged (media
flows phone to phone).

Media applications (issue #7): ``LocalMedia`` opens sipline's own ``RtpEndpoint``s
(paced G.711 out, packets in) for the dialplan's ``answer``/``echo``/``playback``/
``tone``/``ivr``; the sans-I/O parts are ``ToneSpec``/``ToneGenerator`` (FreeSWITCH
tone syntax), ``read_wav``/``write_wav``, ``TelephoneEventReceiver`` and
``parse_dtmf_info`` (RFC 4733 and SIP INFO digits), ``StereoMixer`` (call recording)
and ``IvrMenu``.
"""

from sipline.media._apps import Echo, LocalMedia, RecordingMediaSession
from sipline.media._bypass import BypassMediaSession
from sipline.media._dtmf import (
    DIGITS,
    DigitReceived,
    TelephoneEvent,
    TelephoneEventReceiver,
    digit_of,
    parse_dtmf_info,
)
from sipline.media._endpoint import FrameSource, RtpEndpoint, SampleSource
from sipline.media._g711 import (
    ALAW_TO_ULAW,
    ULAW_TO_ALAW,
    alaw_decode,
    alaw_encode,
    alaw_to_ulaw,
    linear_to_alaw,
    linear_to_ulaw,
    ulaw_decode,
    ulaw_encode,
    ulaw_to_alaw,
)
from sipline.media._ivr import (
    IVR_TRANSITIONS,
    DigitsCollected,
    IvrConfig,
    IvrEvent,
    IvrInput,
    IvrMenu,
    IvrState,
    MenuFailed,
    PromptStarted,
    PromptStopped,
)
from sipline.media._packets import G711_DECODERS, G711_ENCODERS, RtpPacketizer, rtp_payload
from sipline.media._ports import PortAllocator, PortsExhausted, bind_pair
from sipline.media._recorder import StereoMixer, WavRecorder
from sipline.media._relay import ForwardPlan, RelayConfig, RelayLeg, RtpRelay
from sipline.media._rtp import RtpHeader, StreamStatistics, is_rtcp, is_rtp
from sipline.media._session import MediaTimeout, RelayMediaSession, relay_session_factory
from sipline.media._stats import LegStatistics, MediaStatistics
from sipline.media._tones import NAMED_TONES, ToneGenerator, ToneSegment, ToneSpec, goertzel_power
from sipline.media._wav import MediaFileError, read_wav, resample, write_wav

__all__ = [
    "ALAW_TO_ULAW",
    "DIGITS",
    "G711_DECODERS",
    "G711_ENCODERS",
    "IVR_TRANSITIONS",
    "NAMED_TONES",
    "ULAW_TO_ALAW",
    "BypassMediaSession",
    "DigitReceived",
    "DigitsCollected",
    "Echo",
    "ForwardPlan",
    "FrameSource",
    "IvrConfig",
    "IvrEvent",
    "IvrInput",
    "IvrMenu",
    "IvrState",
    "LegStatistics",
    "LocalMedia",
    "MediaFileError",
    "MediaStatistics",
    "MediaTimeout",
    "MenuFailed",
    "PortAllocator",
    "PortsExhausted",
    "PromptStarted",
    "PromptStopped",
    "RecordingMediaSession",
    "RelayConfig",
    "RelayLeg",
    "RelayMediaSession",
    "RtpEndpoint",
    "RtpHeader",
    "RtpPacketizer",
    "RtpRelay",
    "SampleSource",
    "StereoMixer",
    "StreamStatistics",
    "TelephoneEvent",
    "TelephoneEventReceiver",
    "ToneGenerator",
    "ToneSegment",
    "ToneSpec",
    "WavRecorder",
    "alaw_decode",
    "alaw_encode",
    "alaw_to_ulaw",
    "bind_pair",
    "digit_of",
    "goertzel_power",
    "is_rtcp",
    "is_rtp",
    "linear_to_alaw",
    "linear_to_ulaw",
    "parse_dtmf_info",
    "read_wav",
    "relay_session_factory",
    "resample",
    "rtp_payload",
    "ulaw_decode",
    "ulaw_encode",
    "ulaw_to_alaw",
    "write_wav",
]
