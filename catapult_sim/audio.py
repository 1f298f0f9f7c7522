"""The audio behind a recording's media URL, made up on the fly, byte range by byte range.

A recording is stored as its metadata only; its file is a formula. That keeps a one-hour
recording (57 MB of 8 kHz 16-bit PCM) out of memory, and any byte range of it costs only
what that range holds: a seek to minute 59 generates minute 59, not the 59 before it.

- WAV: a 44-byte RIFF header, then 8 kHz mono 16-bit PCM, one quiet tone per second
  cycling through a few pitches (chosen from the recording id, so every recording sounds
  the same each time it is fetched).
- MP3: MPEG-1 Layer III frames of digital silence (32 kbit/s, 32 kHz, mono). All-zero
  side information and main data is a valid frame that decodes to silence; the tone would
  need a real encoder.
"""

from __future__ import annotations

import math
import re
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

SAMPLE_RATE = 8000
BYTES_PER_SAMPLE = 2
WAV_HEADER_BYTES = 44
SECOND_BYTES = SAMPLE_RATE * BYTES_PER_SAMPLE
AMPLITUDE = 0.12 * 32767  # quiet: about -18 dBFS
# Periods in samples that divide the sample rate: each one-second block holds whole
# cycles, so the tone's phase is continuous from block to block (no clicks).
PERIODS = (16, 20, 25, 32, 40)  # 500, 400, 320, 250, 200 Hz
TONES_PER_RECORDING = 3

MP3_FRAME_BYTES = 144  # 144 * 32000 bit/s / 32000 Hz, no padding
MP3_FRAME_MS = 36  # 1152 samples at 32 kHz
# Sync word, MPEG-1, Layer III, no CRC; 32 kbit/s, 32 kHz, no padding; mono, original.
MP3_HEADER = bytes([0xFF, 0xFB, 0x18, 0xC4])
MP3_FRAME = MP3_HEADER + bytes(MP3_FRAME_BYTES - len(MP3_HEADER))

CHUNK_BYTES = 64 * 1024
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


@dataclass(frozen=True)
class AudioFile:
    """One recording's file: its length and a way to read any slice of it."""

    kind: str  # "wav" or "mp3"
    size: int
    seed: int
    data_bytes: int = 0  # WAV: bytes after the header

    @property
    def content_type(self) -> str:
        return "audio/wav" if self.kind == "wav" else "audio/mpeg"

    def read(self, start: int, end: int) -> bytes:
        """Bytes start..end inclusive (clamped to the file)."""
        end = min(end, self.size - 1)
        if start > end:
            return b""
        if self.kind == "mp3":
            return _tiled(MP3_FRAME, start, end)
        out = bytearray()
        if start < WAV_HEADER_BYTES:
            header = wav_header(self.data_bytes)
            out += header[start : min(end + 1, WAV_HEADER_BYTES)]
            start = WAV_HEADER_BYTES
        while start <= end:
            offset = start - WAV_HEADER_BYTES
            second, within = divmod(offset, SECOND_BYTES)
            block = _tone_block(self._period(second))
            take = min(end - start + 1, SECOND_BYTES - within)
            out += block[within : within + take]
            start += take
        return bytes(out)

    def chunks(self, start: int, end: int) -> Iterator[bytes]:
        """The same bytes in pieces of at most CHUNK_BYTES, generated as they are sent."""
        end = min(end, self.size - 1)
        while start <= end:
            stop = min(end, start + CHUNK_BYTES - 1)
            yield self.read(start, stop)
            start = stop + 1

    def _period(self, second: int) -> int:
        # The recording's own few pitches, one per second in turn.
        index = (self.seed + second % TONES_PER_RECORDING * 7) % len(PERIODS)
        return PERIODS[index]


def for_recording(recording_id: str, kind: str, duration_ms: int) -> AudioFile:
    seed = zlib.crc32(recording_id.encode())
    if kind == "mp3":
        frames = max(1, math.ceil(duration_ms / MP3_FRAME_MS))
        return AudioFile("mp3", frames * MP3_FRAME_BYTES, seed)
    samples = max(0, round(duration_ms * SAMPLE_RATE / 1000))
    data = samples * BYTES_PER_SAMPLE
    return AudioFile("wav", WAV_HEADER_BYTES + data, seed, data)


def wav_header(data_bytes: int) -> bytes:
    """RIFF/WAVE header of a PCM file: 8 kHz, mono, 16-bit."""
    byte_rate = SAMPLE_RATE * BYTES_PER_SAMPLE
    return (
        b"RIFF"
        + struct.pack("<I", 36 + data_bytes)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, SAMPLE_RATE, byte_rate, BYTES_PER_SAMPLE, 16)
        + b"data"
        + struct.pack("<I", data_bytes)
    )


@lru_cache(maxsize=len(PERIODS))
def _tone_block(period: int) -> bytes:
    """One second of a sine tone whose period is `period` samples (16 KB, cached)."""
    cycle = b"".join(
        struct.pack("<h", round(AMPLITUDE * math.sin(2 * math.pi * i / period)))
        for i in range(period)
    )
    return cycle * (SAMPLE_RATE // period)


def _tiled(unit: bytes, start: int, end: int) -> bytes:
    """Bytes start..end of `unit` repeated forever."""
    size = len(unit)
    first = start // size
    last = end // size
    joined = unit * (last - first + 1)
    offset = first * size
    return joined[start - offset : end - offset + 1]


# Every file here is far smaller than this many bytes: a position written with more digits
# is past the end whatever its value. Such a number is never converted (Python refuses
# int() of a string longer than 4300 digits, and a long one costs time).
BEYOND = 10**18


def _position(digits: str) -> int:
    digits = digits.lstrip("0") or "0"
    return BEYOND if len(digits) > len(str(BEYOND)) - 1 else int(digits)


def _order(digits: str) -> tuple[int, str]:
    """A sort key of a decimal number of any length, without converting it."""
    digits = digits.lstrip("0") or "0"
    return len(digits), digits


def parse_range(header: str | None, size: int) -> tuple[int, int] | None | str:
    """The one byte range a `Range` header asks for, as (start, end) inclusive.

    None: no usable Range header, so the whole file is sent (a header that does not
    parse, or asks for several ranges, is ignored, as RFC 9110 allows).
    "unsatisfiable": a well-formed range that lies outside the file (answered 416).
    Numbers of any length are read as RFC 9110 says, not refused: a start of 5000 digits
    lies past the end (416), an end or a suffix that long means "to the end" / "all".
    """
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # a suffix: the last N bytes
        length = _position(last)
        if length == 0:
            return "unsatisfiable"
        return max(0, size - length), size - 1
    if last and _order(last) < _order(first):
        return None  # invalid: ignored
    start = _position(first)
    if start >= size:
        return "unsatisfiable"
    end = _position(last) if last else size - 1
    return start, min(end, size - 1)
