"""RFC 6587 framing of syslog over TCP: octet counting and newline framing, mixed, in any chunking."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.listeners.framing import SyslogFramer

MESSAGES = [
    b"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - 'su root' failed for lonvick",
    b"<38>Feb 25 14:34:10 belka sshd[31602]: Failed password for invalid user ROOT from 194.117.26.69 port 50273 ssh2",
    b"2024-05-01T10:00:00+02:00 host app: a line that starts with digits",
    b"<13>Oct 11 22:14:15 host app: message with a\nnewline inside (octet counting carries it)",
]


def octet(m: bytes) -> bytes:
    return str(len(m)).encode() + b" " + m


def feed_all(framer: SyslogFramer, stream: bytes, cuts: list[int]) -> tuple[list[bytes], list[str]]:
    messages: list[bytes] = []
    errors: list[str] = []
    last = 0
    for cut in [*sorted(c % (len(stream) + 1) for c in cuts), len(stream)]:
        got, errs = framer.feed(stream[last:cut]) if cut > last else ([], [])
        messages += got
        errors += [e.reason for e in errs]
        last = max(last, cut)
    got, errs = framer.close()
    return messages + got, errors + [e.reason for e in errs]


def test_octet_counting_and_newline_framing_mixed_in_one_stream() -> None:
    stream = octet(MESSAGES[0]) + MESSAGES[1] + b"\r\n" + octet(MESSAGES[3]) + MESSAGES[2] + b"\n" + MESSAGES[1]
    messages, errors = feed_all(SyslogFramer(), stream, [])
    assert messages == [MESSAGES[0], MESSAGES[1], MESSAGES[3], MESSAGES[2], MESSAGES[1]] and errors == []


def test_oversized_frames_are_reported_and_the_stream_stays_in_sync() -> None:
    big = b"<13>Oct 11 22:14:15 host app: " + b"A" * 2000
    stream = octet(big) + octet(MESSAGES[0]) + big + b"\n" + MESSAGES[1] + b"\n"
    messages, errors = feed_all(SyslogFramer(max_message=1024), stream, [100, 1500, 2100, 3000])
    assert messages == [MESSAGES[0], MESSAGES[1]]
    assert errors[0] == f"octet-counted frame of {len(big)} bytes exceeds the limit of 1024 bytes"
    assert "exceeds the limit of 1024 bytes" in errors[1] or "without a newline" in errors[1]


def test_a_connection_closed_inside_a_frame_is_an_error() -> None:
    messages, errors = feed_all(SyslogFramer(), octet(MESSAGES[0])[:40], [])
    assert messages == [] and errors == [f"connection closed inside an octet-counted frame of {len(MESSAGES[0])} bytes"]


def test_a_last_message_without_newline_is_kept() -> None:
    assert feed_all(SyslogFramer(), MESSAGES[1], [])[0] == [MESSAGES[1]]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(MESSAGES[:3]), st.booleans()), min_size=1, max_size=8),
       st.lists(st.integers(0, 10_000), max_size=12))
def test_any_chunking_gives_the_same_messages(frames: list[tuple[bytes, bool]], cuts: list[int]) -> None:
    stream = b"".join(octet(m) if counted else m + b"\n" for m, counted in frames)
    messages, errors = feed_all(SyslogFramer(), stream, cuts)
    assert messages == [m for m, _ in frames] and errors == []


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=3000), st.lists(st.integers(0, 10_000), max_size=8))
def test_random_bytes_never_raise_and_never_exceed_the_limit(stream: bytes, cuts: list[int]) -> None:
    messages, _ = feed_all(SyslogFramer(max_message=512), stream, cuts)
    assert all(0 < len(m) <= 512 for m in messages)
