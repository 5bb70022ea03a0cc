"""WAV files for playback and recording (the standard ``wave`` module).

``read_wav(path)`` gives signed 16-bit mono samples at 8 kHz whatever the file holds
(8/16-bit PCM, mono or stereo mixed down, any rate resampled linearly);
``write_wav(path, channels)`` writes 16-bit PCM with one channel per array.
"""

from __future__ import annotations

import sys
import wave
from array import array
from collections.abc import Sequence
from pathlib import Path

__all__ = ["MediaFileError", "read_wav", "resample", "write_wav"]


class MediaFileError(Exception):
    """A sound file that cannot be used; the message says which and why, in one line."""


def read_wav(path: str | Path, *, rate: int = 8000) -> array[int]:
    try:
        with wave.open(str(path), "rb") as reader:
            channels = reader.getnchannels()
            width = reader.getsampwidth()
            source_rate = reader.getframerate()
            data = reader.readframes(reader.getnframes())
    except FileNotFoundError:
        raise MediaFileError(f"{path}: no such sound file") from None
    except (wave.Error, EOFError, OSError) as error:
        raise MediaFileError(f"{path}: not a PCM WAV file ({error})") from None
    if width == 2:
        samples = array("h", data[: len(data) // 2 * 2])
        if sys.byteorder == "big":
            samples.byteswap()  # WAV is little-endian
    elif width == 1:
        samples = array("h", ((b - 128) << 8 for b in data))  # 8-bit WAV is unsigned
    else:
        raise MediaFileError(f"{path}: {8 * width}-bit samples; use 8- or 16-bit PCM")
    if channels > 1:
        samples = _mix_down(samples, channels)
    return resample(samples, source_rate, rate)


def _mix_down(samples: array[int], channels: int) -> array[int]:
    frames = len(samples) // channels
    return array(
        "h",
        (sum(samples[i * channels : (i + 1) * channels]) // channels for i in range(frames)),
    )


def resample(samples: array[int], source_rate: int, rate: int) -> array[int]:
    """Linear interpolation from ``source_rate`` to ``rate`` (good enough for prompts
    that end up in G.711; a 16 kHz file loses what is above 4 kHz by aliasing little,
    as speech has little energy there)."""
    if source_rate == rate or not samples:
        return array("h", samples)
    count = len(samples) * rate // source_rate
    step = source_rate / rate
    last = len(samples) - 1
    out = array("h", bytes(2 * count))
    for i in range(count):
        position = i * step
        index = int(position)
        fraction = position - index
        after = samples[min(index + 1, last)]
        out[i] = int(samples[index] + (after - samples[index]) * fraction)
    return out


def write_wav(path: str | Path, channels: Sequence[array[int]], *, rate: int = 8000) -> None:
    """16-bit PCM, one channel per array (the shorter ones padded with silence)."""
    if not channels:
        raise ValueError("write_wav needs at least one channel")
    frames = max(len(c) for c in channels)
    interleaved = array("h", bytes(2 * frames * len(channels)))
    for index, channel in enumerate(channels):
        interleaved[index : index + len(channel) * len(channels) : len(channels)] = channel
    if sys.byteorder == "big":
        interleaved.byteswap()
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(len(channels))
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(interleaved.tobytes())
