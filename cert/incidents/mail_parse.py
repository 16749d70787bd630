"""Reading an e-mail received by the intake with the standard ``email`` package (policy.default):
its sender, subject, text and attachments, whatever the sender did to it.

Nothing in a message is trusted or interpreted: an HTML-only message is reduced to its text (tags,
scripts and styles dropped, never rendered); a part in an unknown or lying charset is decoded with
replacement characters; headers that do not parse count as absent. A message with no address at
all to answer is ``Unreadable`` (the receiver dead-letters it with the reason)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from email import policy
from email.errors import HeaderParseError, MessageError
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import getaddresses
from html.parser import HTMLParser

MAX_ATTACHMENTS = 50
MAX_IDS = 50
_SKIPPED_TAGS = frozenset({"script", "style", "head", "title", "template", "noscript"})
_BLOCK_TAGS = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "blockquote"})
_HEADER_ERRORS = (HeaderParseError, MessageError, ValueError, TypeError, IndexError, AttributeError, LookupError)


class Unreadable(Exception):
    """A message the intake cannot turn into a report (the reason is English, for the dead letter)."""


@dataclass(frozen=True)
class MailFile:
    name: str
    content_type: str
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True)
class ParsedMail:
    from_address: str
    from_name: str
    subject: str
    text: str
    message_id: str
    #: the Message-IDs of In-Reply-To and References (the closest first)
    refers_to: tuple[str, ...] = ()
    files: tuple[MailFile, ...] = field(default_factory=tuple)
    defects: int = 0


class _TextOfHtml(HTMLParser):
    """The text of an HTML document: the content of script, style and head left out."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED_TAGS:
            self.skipping += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED_TAGS:
            self.skipping = max(0, self.skipping - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


def html_text(html: str) -> str:
    """The readable text of HTML, lines stripped and blank runs collapsed."""
    parser = _TextOfHtml()
    parser.feed(html)
    parser.close()
    lines = [" ".join(line.split()) for line in "".join(parser.parts).splitlines()]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip()


def _header(msg: Message, name: str) -> str:
    try:
        value = msg.get(name)
        return "" if value is None else str(value)
    except _HEADER_ERRORS:
        return ""


def _sender(msg: Message) -> tuple[str, str]:
    """The first From address that looks like one (local@domain), lower-cased domain; and its name."""
    try:
        pairs = getaddresses([_header(msg, "From")])
    except _HEADER_ERRORS:
        return "", ""
    for name, addr in pairs:
        address = normal_address(addr)
        if address:
            return address, " ".join(name.split())[:300]
    return "", ""


def normal_address(addr: str) -> str:
    """``local@domain`` with the domain lower-cased, or "" for anything else."""
    addr = addr.strip().strip("<>")
    local, at, domain = addr.rpartition("@")
    domain = domain.lower().rstrip(".")
    if not at or not local or not domain or "." not in domain or len(addr) > 320:
        return ""
    if any(c.isspace() or c in "<>()[],;:\\\"" for c in domain) or any(c.isspace() or c in "<>" for c in local):
        return ""
    return f"{local}@{domain}"


def _message_ids(value: str) -> tuple[str, ...]:
    ids = [token for token in value.replace(",", " ").split()
           if token.startswith("<") and token.endswith(">") and "@" in token and len(token) <= 500]
    return tuple(ids[-MAX_IDS:])


def _decoded_text(part: Message) -> str:
    """The text of a text part; an unknown or lying charset gives replacement characters."""
    if isinstance(part, EmailMessage):
        try:
            content = part.get_content()
            if isinstance(content, str):
                return content
        except (LookupError, UnicodeError, *_HEADER_ERRORS):
            pass
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = "utf-8"
    try:
        charset = part.get_content_charset() or "utf-8"
        return payload.decode(charset, errors="replace")
    except (LookupError, *_HEADER_ERRORS):
        return payload.decode("utf-8", errors="replace")


def _content_type(part: Message) -> str:
    try:
        return part.get_content_type()
    except _HEADER_ERRORS:
        return "application/octet-stream"


def _filename(part: Message, n: int) -> str:
    try:
        name = part.get_filename()
    except _HEADER_ERRORS:
        name = None
    if not name:
        kind = _content_type(part)
        name = f"part-{n}.eml" if kind == "message/rfc822" else f"part-{n}"
    return str(name)


def _leaves(msg: Message) -> list[Message]:
    """The message's parts that are not containers; an attached message is one part."""
    out: list[Message] = []
    stack = [msg]
    while stack and len(out) < 10 * MAX_ATTACHMENTS:
        part = stack.pop(0)
        kind = _content_type(part)
        if kind == "message/rfc822" and part is not msg:
            out.append(part)
        elif part.is_multipart():
            payload = part.get_payload()
            stack[0:0] = [p for p in payload if isinstance(p, Message)] if isinstance(payload, list) else []
        else:
            out.append(part)
    return out


def _bytes_of(part: Message) -> bytes:
    if _content_type(part) == "message/rfc822":
        inner = part.get_payload()
        if isinstance(inner, list) and inner and isinstance(inner[0], Message):
            try:
                return inner[0].as_bytes(policy=policy.default.clone(linesep="\r\n"))
            except (UnicodeError, *_HEADER_ERRORS):
                return inner[0].as_string().encode("utf-8", errors="replace")
        return b""
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


def _body_and_files(msg: Message) -> tuple[str, tuple[MailFile, ...]]:
    plain: Message | None = None
    html: Message | None = None
    files: list[MailFile] = []
    for n, part in enumerate(_leaves(msg), start=1):
        kind = _content_type(part)
        try:
            disposition = part.get_content_disposition()
        except _HEADER_ERRORS:
            disposition = None
        inline_text = disposition != "attachment" and kind in ("text/plain", "text/html")
        if inline_text and kind == "text/plain" and plain is None:
            plain = part
        elif inline_text and kind == "text/html" and html is None:
            html = part
        elif len(files) < MAX_ATTACHMENTS:
            data = _bytes_of(part)
            if data:
                files.append(MailFile(_filename(part, n), kind, data))
    if plain is not None:
        text = _decoded_text(plain)
    elif html is not None:
        text = html_text(_decoded_text(html))
    else:
        text = ""
    return text.replace("\r\n", "\n").strip(), tuple(files)


def parse_mail(raw: bytes) -> ParsedMail:
    """Read a message; ``Unreadable`` when nothing of it can be read at all."""
    if not raw.strip():
        raise Unreadable("empty message")
    try:
        msg = BytesParser(policy=policy.default).parsebytes(raw)
    except (RecursionError, *_HEADER_ERRORS) as exc:
        raise Unreadable(f"the message does not parse: {type(exc).__name__}") from None
    address, name = _sender(msg)
    subject = " ".join(_header(msg, "Subject").split())
    try:
        text, files = _body_and_files(msg)
    except (RecursionError, UnicodeError, *_HEADER_ERRORS) as exc:
        raise Unreadable(f"the message's parts do not parse: {type(exc).__name__}") from None
    message_ids = _message_ids(_header(msg, "Message-ID"))
    refers = _message_ids(_header(msg, "In-Reply-To")) + tuple(reversed(_message_ids(_header(msg, "References"))))
    return ParsedMail(address, name, subject, text, message_ids[0] if message_ids else "",
                      tuple(dict.fromkeys(refers)), files, len(getattr(msg, "defects", [])))
