"""Recordings: stored locally (callbacks, the call page's read, the account-wide list),
listed on their own page, and played through our own authenticated, range-aware view.

- `models`: Recording, PlaybackSettings (may viewers listen?), RecordingSync (history).
- `store`: API payloads and callbacks -> Recording rows, idempotently.
- `sync`: the account-wide recordings list, newest first, in its own budget family.
- `media`: a recording's audio streamed from Catapult to the browser, with byte ranges.
- `views`, `filters`, `urls`: the Recordings page and the media view.
"""
