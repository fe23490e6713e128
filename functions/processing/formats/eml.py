"""E-mail messages (RFC 822 / RFC 5322 with MIME, `.eml`): the message as a document, each
attachment as an object of its own.

Parsed with the standard library's `email` package (`policy.default`: RFC 2047 encoded words
and RFC 2231 file names decoded). The message's one page holds its Subject, From, To, Cc and
Date lines, the list of its attachments and its body: the text/plain part, or else the HTML
part read as text (html_text.py). Headers go to the object's metadata too.

Attachments are not read here: each is written to a file in the caller's work folder and named
by a key of the ingest bucket, `attachments/<message key>/<n>-<safe file name>`
(ATTACHMENTS_PREFIX), so that the S3 notification of that key sends it through the pipeline
with its own rows (its extension decides its modality, as for any upload). An attached message
(`message/rfc822`) is written out whole as `.eml` and is expanded in turn when it is processed.

Bounds, each with the reason recorded per attachment in the message's metadata (the message
itself is still processed): at most MAX_ATTACHMENTS attachments, each at most
MAX_ATTACHMENT_BYTES decoded, MAX_ATTACHMENTS_TOTAL_BYTES together; none from a message that
is itself an attachment MAX_NESTING levels deep (a message attaching itself, or a chain of
forwards, ends there). A message above MAX_MESSAGE_BYTES, one without any header, or a
multipart message cut before its closing boundary is refused (InvalidObjectError).
"""
from __future__ import annotations

import email
import mimetypes
import re
import unicodedata
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage, MIMEPart
from pathlib import Path

from functions.common.constants import ATTACHMENTS_PREFIX
from functions.common.errors import InvalidObjectError
from functions.processing.formats import html as html_mod
from functions.processing.formats import tables as tables_mod
from functions.processing.formats.detect import looks_like_message
from functions.processing.formats.document import Document, Page
from functions.processing.formats.text import as_utf8

MAX_MESSAGE_BYTES = 100 * 1024 * 1024  # parsed in memory: the email package holds the whole message
MAX_ATTACHMENTS = 20
MAX_ATTACHMENT_BYTES = 50 * 1024 * 1024
MAX_ATTACHMENTS_TOTAL_BYTES = 200 * 1024 * 1024
MAX_NESTING = 3  # a message that is an attachment this many levels deep writes out no attachments
MAX_PARTS = 1000  # MIME parts looked at, however deeply multiparts nest
MAX_KEY_BYTES = 1024  # S3 object keys: https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html
HEADERS = ("subject", "from", "to", "cc", "date")
_TRUNCATION_DEFECTS = ("StartBoundaryNotFoundDefect", "CloseBoundaryNotFoundDefect")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass
class Attachment:
    """One attachment: where it was written (None when refused) and the key it goes to."""

    ordinal: int  # 1-based, in the message's order
    filename: str
    content_type: str
    size: int  # decoded bytes (0 when refused before decoding)
    key: str | None = None
    path: Path | None = None
    refused: str | None = None

    def metadata(self) -> dict:
        entry = {"filename": self.filename, "content_type": self.content_type, "bytes": self.size}
        if self.refused:
            entry["refused"] = self.refused
        else:
            entry["key"] = self.key
        return entry


@dataclass
class EmailExtract:
    document: Document
    attachments: list[Attachment] = field(default_factory=list)


def nesting(key: str) -> int:
    """How many levels of attachments deep an object is, by its key (attachments/attachments/...)."""
    depth = 0
    prefix = f"{ATTACHMENTS_PREFIX}/"
    while key.startswith(prefix):
        depth += 1
        key = key[len(prefix):]
    return depth


def attachment_key(message_key: str, ordinal: int, filename: str) -> str:
    """The ingest-bucket key of a message's attachment: attachments/<message key>/<n>-<safe name>."""
    return f"{ATTACHMENTS_PREFIX}/{message_key}/{ordinal}-{safe_filename(filename)}"


def safe_filename(filename: str) -> str:
    """A file name reduced to letters, digits, '.', '_' and '-' (accents dropped), at most 100
    characters, keeping its extension (which decides the attachment's modality)."""
    ascii_name = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode("ascii")
    name = _UNSAFE.sub("-", ascii_name).strip(".-") or "attachment"
    stem, dot, ext = name.rpartition(".")
    if dot and len(ext) <= 10:
        return f"{stem[:100 - len(ext) - 1].rstrip('.-') or 'attachment'}.{ext}"
    return name[:100]


def read_eml(path: Path, key: str, workdir: Path) -> EmailExtract:
    """Parse the message at `path` (the object `key`); write its attachments under `workdir`.

    Returns the message as a one-page Document and its attachments (written or refused,
    with the reason). Raises InvalidObjectError for a message that cannot be read as one.
    """
    size = path.stat().st_size
    if size > MAX_MESSAGE_BYTES:
        raise InvalidObjectError(f"the e-mail message is {size} bytes, above the limit of {MAX_MESSAGE_BYTES}")
    # A message saved as UTF-16 or UTF-32 (with or without a byte-order mark) is re-encoded as
    # UTF-8 first: the email package parses bytes as ASCII-compatible text.
    data = as_utf8(path.read_bytes())
    if not looks_like_message(data[:4096]):
        raise InvalidObjectError("not an e-mail message: it does not start with a header line")
    try:
        message = email.message_from_bytes(data, policy=policy.default)
    except Exception as exc:  # noqa: BLE001 - the parser is lenient; what it raises is a broken file
        raise InvalidObjectError(f"corrupt e-mail message: {type(exc).__name__}: {exc}") from exc
    del data
    if not isinstance(message, EmailMessage) or not message.keys():
        raise InvalidObjectError("not an e-mail message: no headers")
    parts = _parts(message)
    for part in parts:
        names = [type(d).__name__ for d in part.defects]
        if any(n in _TRUNCATION_DEFECTS for n in names):
            raise InvalidObjectError(
                "corrupt or truncated e-mail message: a multipart body has no "
                + ("closing" if "CloseBoundaryNotFoundDefect" in names else "opening") + " boundary"
            )
    headers = {name: _header(message, name) for name in HEADERS}
    body_part, body_kind, body, body_tables = _body(message)
    attachments = _attachments(message, parts, body_part, key, workdir)
    lines = [f"{name.title()}: {value}" for name, value in headers.items() if value]
    if attachments:
        lines.append("Attachments: " + ", ".join(a.filename for a in attachments))
    if body:
        lines += ["", body]
    metadata = {
        "headers": {name: value for name, value in headers.items() if value},
        "message_id": _header(message, "message-id") or None,
        "body": body_kind,
        "attachments": [a.metadata() for a in attachments],
        "attachment_keys": [a.key for a in attachments if a.key],
        "pages": 1,
    }
    if body_tables:
        metadata["tables"] = len(body_tables)
    document = Document(format="eml", pages=[Page(number=1, text="\n".join(lines).strip(), tables=body_tables)],
                        metadata=metadata)
    return EmailExtract(document=document, attachments=attachments)


def _header(message: EmailMessage, name: str) -> str:
    try:
        value = message.get(name)
    except Exception:  # noqa: BLE001 - an unparsable header is left out, not a failure
        return ""
    return " ".join(str(value).split())[:1000] if value is not None else ""


def _parts(message: EmailMessage) -> list[MIMEPart]:
    """Every MIME part in order, without descending into attached messages, at most MAX_PARTS."""
    found: list[MIMEPart] = []
    stack: list[MIMEPart] = [message]
    while stack:
        part = stack.pop()
        found.append(part)
        if len(found) > MAX_PARTS:
            raise InvalidObjectError(f"the e-mail message has more than {MAX_PARTS} MIME parts, above the limit")
        if part.is_multipart() and part.get_content_maintype() == "multipart":
            stack.extend(reversed(list(part.iter_parts())))
    return found


def _text(part: MIMEPart) -> str:
    try:
        content = part.get_content()
    except (LookupError, UnicodeError, ValueError, KeyError):  # unknown or lying charset
        payload = part.get_payload(decode=True)  # bytes, or None for a multipart part
        content = payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else ""
    return content if isinstance(content, str) else ""


def _body(message: EmailMessage) -> tuple[MIMEPart | None, str | None, str, list[tables_mod.Table]]:
    """The part read as the body, which kind it is ("plain" or "html"), its text and (for an
    HTML body) its tables as rows of cells."""
    try:
        part = message.get_body(preferencelist=("plain", "html"))
    except Exception:  # noqa: BLE001 - a malformed structure: no body rather than no message
        part = None
    if part is None:
        return None, None, "", []
    if part.get_content_subtype() == "html":
        page = html_mod.extract(_text(part))
        return part, "html", page.text, page.tables
    return part, "plain", _text(part).strip(), []


def _attachments(message: EmailMessage, parts: list[MIMEPart], body: MIMEPart | None, key: str,
                 workdir: Path) -> list[Attachment]:
    candidates = [
        p for p in parts
        if p is not message and p is not body and p.get_content_maintype() != "multipart"
        and (p.get_content_disposition() == "attachment" or p.get_filename() or p.get_content_type() == "message/rfc822")
    ]
    depth = nesting(key)
    total = 0
    found: list[Attachment] = []
    folder = workdir / "attachments"
    for ordinal, part in enumerate(candidates, start=1):
        content_type = part.get_content_type()
        filename = _filename(part, ordinal)
        attachment = Attachment(ordinal=ordinal, filename=filename, content_type=content_type, size=0)
        found.append(attachment)
        if depth >= MAX_NESTING:
            attachment.refused = (f"the message is itself an attachment {depth} levels deep; attachments are "
                                  f"written out to at most {MAX_NESTING} levels (MAX_NESTING)")
            continue
        if ordinal > MAX_ATTACHMENTS:
            attachment.refused = f"the message has more than {MAX_ATTACHMENTS} attachments (MAX_ATTACHMENTS)"
            continue
        raw = part.get_payload()
        if isinstance(raw, str) and len(raw) * 3 // 4 > MAX_ATTACHMENT_BYTES:  # base64 is 4/3 of the bytes
            attachment.refused = f"the attachment is larger than {MAX_ATTACHMENT_BYTES} bytes (MAX_ATTACHMENT_BYTES)"
            continue
        if content_type == "message/rfc822":
            inner = part.get_payload()
            inner = inner[0] if isinstance(inner, list) and inner else inner
            data = inner.as_bytes(policy=policy.default) if isinstance(inner, EmailMessage) else b""
        else:
            payload = part.get_payload(decode=True)  # bytes, or None for a multipart part
            data = payload if isinstance(payload, bytes) else b""
        attachment.size = len(data)
        if not data:
            attachment.refused = "the attachment is empty"
        elif len(data) > MAX_ATTACHMENT_BYTES:
            attachment.refused = f"the attachment is larger than {MAX_ATTACHMENT_BYTES} bytes (MAX_ATTACHMENT_BYTES)"
        elif total + len(data) > MAX_ATTACHMENTS_TOTAL_BYTES:
            attachment.refused = (f"the attachments together pass {MAX_ATTACHMENTS_TOTAL_BYTES} bytes "
                                  "(MAX_ATTACHMENTS_TOTAL_BYTES)")
        else:
            target_key = attachment_key(key, ordinal, filename)
            if len(target_key.encode("utf-8")) > MAX_KEY_BYTES:
                attachment.refused = f"its key would be longer than S3's {MAX_KEY_BYTES} bytes"
                continue
            folder.mkdir(exist_ok=True)
            attachment.path = folder / f"{ordinal:03d}"
            attachment.path.write_bytes(data)
            attachment.key = target_key
            total += len(data)
    return found


def _filename(part: MIMEPart, ordinal: int) -> str:
    try:
        name = part.get_filename()
    except Exception:  # noqa: BLE001 - a malformed parameter: name it by its type instead
        name = None
    if name:
        return " ".join(str(name).split())[:200]
    content_type = part.get_content_type()
    extension = ".eml" if content_type == "message/rfc822" else (mimetypes.guess_extension(content_type) or ".bin")
    return f"attachment-{ordinal}{extension}"
