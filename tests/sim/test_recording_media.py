"""A recording's media: a real WAV (or MP3) file of the recorded length, served in ranges."""

import io
import wave

import pytest
import requests

from catapult_sim import audio


def _record(api, sim, seconds: float, fmt: str = "wav") -> dict:
    """Record an answered call for `seconds`; returns the recording once it is complete."""
    call_id = sim.create_inbound_call(auto_answer=True)
    sim.advance(1)
    body = {"recordingEnabled": True, "recordingFileFormat": fmt}
    assert api.post(f"/calls/{call_id}", json=body).status_code == 200
    sim.advance(seconds)
    assert api.post(f"/calls/{call_id}", json={"recordingEnabled": False}).status_code == 200
    sim.advance(2)  # saving -> complete
    (recording,) = api.get(f"/calls/{call_id}/recordings").json()
    assert recording["state"] == "complete"
    return recording


def test_the_media_is_a_valid_wav_of_the_recorded_duration(manual_api, manual_sim):
    recording = _record(manual_api, manual_sim, 12.5)
    assert recording["media"].endswith("-1.wav")
    response = manual_api.get(recording["media"])
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "audio/wav"
    assert response.headers["Accept-Ranges"] == "bytes"
    assert int(response.headers["Content-Length"]) == len(response.content)
    with wave.open(io.BytesIO(response.content)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 8000)
        assert wav.getnframes() / wav.getframerate() == pytest.approx(12.5, abs=0.01)
        frames = wav.readframes(wav.getnframes())
    assert any(frames) and len(frames) == wav.getnframes() * 2  # a tone, not silence
    # Deterministic: the same bytes every time.
    assert manual_api.get(recording["media"]).content == response.content


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-99", (0, 99)),
        ("bytes=40-50", (40, 50)),  # across the end of the header
        ("bytes=16000-48123", (16000, 48123)),  # across tone boundaries
        ("bytes=100000-", (100000, None)),
        ("bytes=-500", (-500, None)),
        ("bytes=150000-999999999", (150000, None)),  # the end is clamped to the file
    ],
)
def test_range_slices_equal_the_slice_of_the_whole_file(manual_api, manual_sim, header, expected):
    recording = _record(manual_api, manual_sim, 10)
    whole = manual_api.get(recording["media"]).content
    part = manual_api.get(recording["media"], headers={"Range": header})
    assert part.status_code == 206
    start, end = expected
    wanted = whole[start:] if end is None else whole[start : end + 1]
    assert part.content == wanted
    first = len(whole) + start if start < 0 else start
    assert part.headers["Content-Range"] == f"bytes {first}-{first + len(wanted) - 1}/{len(whole)}"
    assert int(part.headers["Content-Length"]) == len(wanted)


def test_an_unsatisfiable_range_is_416_and_a_malformed_one_is_ignored(manual_api, manual_sim):
    recording = _record(manual_api, manual_sim, 3)
    size = len(manual_api.get(recording["media"]).content)
    beyond = manual_api.get(recording["media"], headers={"Range": f"bytes={size}-"})
    assert beyond.status_code == 416
    assert beyond.headers["Content-Range"] == f"bytes */{size}"
    assert beyond.json()["code"] == "range-not-satisfiable"
    for header in ("bytes=abc", "bytes=9-2", "bytes=0-1,5-6", "pages=1-2"):
        ignored = manual_api.get(recording["media"], headers={"Range": header})
        assert ignored.status_code == 200 and len(ignored.content) == size, header


def test_range_numbers_of_any_length_are_answered_never_a_500(manual_api, manual_sim):
    recording = _record(manual_api, manual_sim, 3)
    whole = manual_api.get(recording["media"]).content
    size = len(whole)
    huge = "9" * 5000
    start = manual_api.get(recording["media"], headers={"Range": f"bytes={huge}-"})
    assert start.status_code == 416 and start.headers["Content-Range"] == f"bytes */{size}"
    end = manual_api.get(recording["media"], headers={"Range": f"bytes=10-{huge}"})
    assert end.status_code == 206 and end.content == whole[10:]
    suffix = manual_api.get(recording["media"], headers={"Range": f"bytes=-{huge}"})
    assert suffix.status_code == 206 and suffix.content == whole
    padded = manual_api.get(recording["media"], headers={"Range": f"bytes={'0' * 5000}5-9"})
    assert padded.status_code == 206 and padded.content == whole[5:10]
    backwards = manual_api.get(recording["media"], headers={"Range": f"bytes={huge}-{'9' * 30}"})
    assert backwards.status_code == 200 and backwards.content == whole  # ignored


def test_parse_range_caps_long_numbers():
    assert audio.parse_range("bytes=" + "1" * 19 + "-", 100) == "unsatisfiable"
    assert audio.parse_range("bytes=" + "9" * 5000 + "-", 100) == "unsatisfiable"
    assert audio.parse_range("bytes=0-" + "9" * 5000, 100) == (0, 99)
    assert audio.parse_range("bytes=" + "9" * 18 + "-", 100) == "unsatisfiable"
    assert audio.parse_range("bytes=2-" + "9" * 40, 100) == (2, 99)
    assert audio.parse_range("bytes=-" + "9" * 40, 100) == (0, 99)
    assert audio.parse_range("bytes=-" + "0" * 40, 100) == "unsatisfiable"
    assert audio.parse_range("bytes=" + "0" * 40 + "-" + "0" * 39 + "3", 100) == (0, 3)


def test_an_hour_long_file_is_never_held_in_memory():
    # 57.6 MB if it were materialised; a slice near its end costs only the slice.
    file = audio.for_recording("rec-long", "wav", 3_600_000)
    assert file.size == 44 + 3600 * 8000 * 2
    tail = file.read(file.size - 10, file.size + 100)
    assert len(tail) == 10
    assert b"".join(file.chunks(file.size - 200_000, file.size - 1)) == file.read(
        file.size - 200_000, file.size - 1
    )


def test_mp3_recordings_are_mpeg_frames(manual_api, manual_sim):
    recording = _record(manual_api, manual_sim, 3.6, fmt="mp3")
    assert recording["media"].endswith("-1.mp3")
    response = manual_api.get(recording["media"])
    assert response.headers["Content-Type"] == "audio/mpeg"
    body = response.content
    assert len(body) % audio.MP3_FRAME_BYTES == 0
    frames = len(body) // audio.MP3_FRAME_BYTES
    assert frames * audio.MP3_FRAME_MS == pytest.approx(3600, abs=audio.MP3_FRAME_MS)
    assert all(body[i : i + 2] == b"\xff\xfb" for i in range(0, len(body), audio.MP3_FRAME_BYTES))


def test_media_needs_credentials_a_complete_recording_and_counts_in_its_family(
    manual_api, manual_sim
):
    recording = _record(manual_api, manual_sim, 2)
    name = recording["media"].rsplit("/", 1)[1]
    anonymous = requests.get(recording["media"], timeout=10)
    assert anonymous.status_code == 401
    wrong = requests.get(recording["media"], auth=(manual_sim.api_token, "nope"), timeout=10)
    assert wrong.status_code == 401
    missing = manual_api.get("/media/c-aaaaaaaaaaaaaaaaaaaaaaaaa-1.wav")
    assert missing.status_code == 404 and missing.json()["category"] == "not-found"
    wrong_format = manual_api.get(f"/media/{name.replace('.wav', '.mp3')}")
    assert wrong_format.status_code == 404
    manual_sim.reset_stats()
    manual_sim.faults.rate_limit(requests_per_second=1)
    try:
        assert manual_api.get(recording["media"]).status_code == 200
        assert manual_api.get("/calls").status_code == 200  # another family: its own limit
        limited = manual_api.get(recording["media"], headers={"Range": "bytes=0-1"})
        assert limited.status_code == 429 and "X-RateLimit-Reset" in limited.headers
    finally:
        manual_sim.faults.rate_limit(None)
    assert manual_sim.stats()["by_route"]["GET /media/{name}"] == 2


def test_media_of_a_recording_still_saving_is_not_available(manual_api, manual_sim):
    call_id = manual_sim.create_inbound_call(auto_answer=True)
    manual_sim.advance(1)
    manual_api.post(f"/calls/{call_id}", json={"recordingEnabled": True})
    manual_sim.advance(3)
    manual_api.post(f"/calls/{call_id}", json={"recordingEnabled": False})
    (recording,) = manual_api.get(f"/calls/{call_id}/recordings").json()
    assert recording["state"] == "saving"
    response = manual_api.get(recording["media"])
    assert response.status_code == 404 and response.json()["code"] == "media-not-found"
