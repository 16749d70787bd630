"""Syslog over a stream (TCP, TLS): split the bytes into messages (RFC 6587).

Two framings exist and senders mix them, so each frame is recognised by its first byte:
- octet counting (RFC 6587 section 3.4.1, RFC 5425 section 4.3): ``MSG-LEN SP SYSLOG-MSG``,
  where MSG-LEN is a decimal number without leading zero;
- non-transparent framing (RFC 6587 section 3.4.2): the message ends at LF (CR LF and NUL are
  accepted too, as rsyslog and syslog-ng do).
A frame longer than the limit is reported (for the dead-letter store) and skipped without losing
track of the stream: an octet-counted frame is skipped by its length, a newline-framed one up to
its newline.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_DIGITS = 10


@dataclass(frozen=True)
class FrameError:
    reason: str
    raw: bytes


class SyslogFramer:
    def __init__(self, max_message: int = 64 * 1024) -> None:
        self.max_message = max_message
        self._buf = bytearray()
        self._skip = 0  # bytes of an oversized octet-counted frame still to discard
        self._discarding = False  # inside an oversized newline-framed message

    def feed(self, data: bytes) -> tuple[list[bytes], list[FrameError]]:
        self._buf += data
        messages: list[bytes] = []
        errors: list[FrameError] = []
        while self._buf:
            if self._skip:
                n = min(self._skip, len(self._buf))
                del self._buf[:n]
                self._skip -= n
                continue
            if self._discarding:
                end = self._buf.find(b"\n")
                if end < 0:
                    self._buf.clear()
                    break
                del self._buf[:end + 1]
                self._discarding = False
                continue
            first = self._buf[0]
            if first in b"\r\n\x00":
                del self._buf[:1]
                continue
            if 0x31 <= first <= 0x39 and self._looks_counted():
                progressed = self._octet_counted(messages, errors)
            else:
                progressed = self._newline_framed(messages, errors)
            if not progressed:
                break  # an incomplete frame: wait for more bytes
        return messages, errors

    def close(self) -> tuple[list[bytes], list[FrameError]]:
        """End of stream: what is left is a last message without LF, or a cut-off frame."""
        messages: list[bytes] = []
        errors: list[FrameError] = []
        rest = bytes(self._buf).strip(b"\r\n\x00")
        self._buf.clear()
        if rest and not self._discarding and not self._skip:
            head, sep, _ = rest.partition(b" ")
            if sep and head.isdigit() and self._looks_counted_bytes(rest):
                errors.append(FrameError(f"connection closed inside an octet-counted frame of {int(head)} bytes",
                                         rest[: self.max_message]))
            elif len(rest) > self.max_message:
                errors.append(FrameError(f"message of {len(rest)} bytes exceeds the limit of {self.max_message} bytes",
                                         rest[: self.max_message]))
            else:
                messages.append(rest)
        return messages, errors

    # ---- octet counting ----
    def _looks_counted(self) -> bool:
        return self._looks_counted_bytes(bytes(self._buf[: MAX_DIGITS + 1]))

    @staticmethod
    def _looks_counted_bytes(head: bytes) -> bool:
        """Digits then a space (or digits still arriving): octet counting."""
        digits = 0
        for b in head[: MAX_DIGITS + 1]:
            if 0x30 <= b <= 0x39:
                digits += 1
                continue
            return b == 0x20 and digits > 0
        return digits <= MAX_DIGITS

    def _octet_counted(self, messages: list[bytes], errors: list[FrameError]) -> bool:
        """Take one octet-counted frame; False when more bytes are needed."""
        space = self._buf.find(b" ", 0, MAX_DIGITS + 1)
        if space < 0:
            return False
        length = int(self._buf[:space])
        if length > self.max_message:
            errors.append(FrameError(f"octet-counted frame of {length} bytes exceeds the limit of "
                                     f"{self.max_message} bytes", bytes(self._buf[: space + 1 + self.max_message])))
            del self._buf[: space + 1]
            self._skip = length
            return True
        if len(self._buf) < space + 1 + length:
            return False
        messages.append(bytes(self._buf[space + 1: space + 1 + length]))
        del self._buf[: space + 1 + length]
        return True

    # ---- non-transparent framing ----
    def _newline_framed(self, messages: list[bytes], errors: list[FrameError]) -> bool:
        end = -1
        for sep in (b"\n", b"\x00"):
            i = self._buf.find(sep)
            if i >= 0 and (end < 0 or i < end):
                end = i
        if end < 0:
            if len(self._buf) > self.max_message:
                errors.append(FrameError(f"message longer than {self.max_message} bytes without a newline",
                                         bytes(self._buf[: self.max_message])))
                self._buf.clear()
                self._discarding = True
            return False
        message = bytes(self._buf[:end]).rstrip(b"\r")
        del self._buf[: end + 1]
        if len(message) > self.max_message:
            errors.append(FrameError(f"message of {len(message)} bytes exceeds the limit of {self.max_message} bytes",
                                     message[: self.max_message]))
        elif message:
            messages.append(message)
        return True
