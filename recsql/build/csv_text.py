"""CSV files as text: from the bytes on disk to lines and records, setting aside what is not
text instead of failing the file.

A CSV file may be compressed (``.csv.gz``, ``.csv.zst``: Arrow decompresses it as it is read)
and in any encoding Python has a codec for. Without a stated encoding, a byte-order mark
decides (UTF-8, UTF-16, UTF-32), else the file is UTF-8.

Bytes that are not text in the file's encoding are decoded as *marks*, the characters
U+DC00 + byte (Python's ``surrogateescape``, for every encoding and every byte), so a bad
byte costs the line it is on, not the file, and can be shown as it was (:func:`shown`). A NUL
byte, which no text holds, counts as a bad byte too: a UTF-16 file read as UTF-8 is full of
them.

:func:`scan` reads a file once to tell whether it can go to Arrow as it is (the fast path):
every byte is text and every quote is closed. :func:`records` splits a file into records
itself (the slow path): the line each starts on, and the ones that cannot be read, by the
quoting rules of Arrow's CSV parser, which then parses the rest.
"""

from __future__ import annotations

import codecs
import functools
import re
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from recsql.contract import Reason

#: File name endings of CSV files, and the compression each means.
CSV_SUFFIXES = {".csv": None, ".csv.gz": "gzip", ".csv.zst": "zstd"}
BLOCK = 1 << 20

#: The error handler that decodes a bad byte as a mark and encodes a mark as its byte.
MARKS = "recsql-marks"
_MARK = 0xDC00
#: A character no text holds: a mark or NUL.
_NOT_TEXT = re.compile("[\x00\udc00-\udcff]")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
#: What :func:`shown` escapes: the backslash, marks, control characters but tab and breaks.
_UNSHOWN = re.compile("[\\\\\x00-\x08\x0b\x0c\x0e-\x1f\x7f\udc00-\udcff]")
#: Byte-order marks, longest first (UTF-32's starts like UTF-16's), and the codec each means.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def _marks(error: UnicodeError) -> tuple[str | bytes, int]:
    if isinstance(error, UnicodeDecodeError):
        bad = error.object[error.start : error.end]
        return "".join(chr(_MARK + byte) for byte in bad), error.end
    if isinstance(error, UnicodeEncodeError):
        chars = error.object[error.start : error.end]
        if all(_MARK <= ord(c) <= _MARK + 0xFF for c in chars):
            return bytes(ord(c) - _MARK for c in chars), error.end
    raise error


codecs.register_error(MARKS, _marks)


def is_csv(path: Path) -> bool:
    return path.name.lower().endswith(tuple(CSV_SUFFIXES))


def codec(name: str) -> str:
    """The codec a stated encoding names, as Python calls it; UTF-8 drops a byte-order mark.

    Raises LookupError for a name Python does not know.
    """
    canonical = codecs.lookup(name).name
    return "utf-8-sig" if canonical == "utf-8" else canonical


def described(encoding: str) -> str:
    """An encoding as a message names it."""
    return "UTF-8" if encoding in ("utf-8", "utf-8-sig") else encoding


def open_stream(path: Path) -> pa.NativeFile:
    """The file's bytes, decompressed (raises OSError if it cannot be)."""
    compression = next(
        (kind for suffix, kind in CSV_SUFFIXES.items() if path.name.lower().endswith(suffix)),
        None,
    )
    return pa.input_stream(str(path), compression=compression)


def encoding_of(path: Path, stated: str | None) -> str:
    """The codec of a CSV file: the stated one, else the one its byte-order mark names, else
    UTF-8."""
    if stated:
        return codec(stated)
    with open_stream(path) as stream:
        start = stream.read(4)
    return next((name for bom, name in _BOMS if start.startswith(bom)), "utf-8")


def decoded(path: Path, encoding: str, errors: str = MARKS) -> Iterator[str]:
    """The file's text, block by block (bad bytes as marks; ``errors="strict"`` raises
    UnicodeDecodeError at the first instead). A byte-order mark is dropped."""
    decoder = codecs.getincrementaldecoder(encoding)(errors)
    first = True
    with open_stream(path) as stream:
        while True:
            block = stream.read(BLOCK)
            text = decoder.decode(block, final=not block)
            if first and text:
                text, first = text.removeprefix("\ufeff"), False
            if text:
                yield text
            if not block:
                return


def lines(chunks: Iterable[str]) -> Iterator[tuple[int, str]]:
    """The physical lines of a text, numbered from 1, each with its line break (CRLF, CR or LF,
    nothing else: ``str.splitlines`` would split at form feeds too)."""
    number, rest = 0, ""
    for chunk in chunks:
        text = rest + chunk
        # a CR at the end may be the first half of a CRLF: it waits for the next chunk
        end = len(text) - 1 if text.endswith("\r") else len(text)
        start = 0
        for found in _LINE_BREAK.finditer(text, 0, end):
            number += 1
            yield number, text[start : found.end()]
            start = found.end()
        rest = text[start:]
    if rest:
        yield number + 1, rest


def header(path: Path, encoding: str) -> str:
    """The file's first line, without its line break (bad bytes as marks)."""
    for _, line in lines(decoded(path, encoding)):
        return line.rstrip("\r\n")
    return ""


def is_text(line: str) -> bool:
    return _NOT_TEXT.search(line) is None


def shown(text: str) -> str:
    """A line as a message or ``row_json`` shows it: a bad byte, a control character or a
    backslash written as ``\\xNN`` or ``\\\\``, so the raw bytes are seen and nothing is
    misread."""

    def escaped(found: re.Match[str]) -> str:
        char = ord(found.group())
        if char == ord("\\"):
            return "\\\\"
        return f"\\x{char - _MARK if char >= _MARK else char:02x}"

    return _UNSHOWN.sub(escaped, text)


def first_bad_byte(line: str) -> str:
    """The first byte of a line that :func:`is_text` rejects, in words: ``byte 0xe9`` or
    ``a NUL byte``."""
    found = _NOT_TEXT.search(line)
    assert found is not None
    char = ord(found.group())
    return "a NUL byte" if char == 0 else f"byte 0x{char - _MARK:02x}"


def suggested_encoding(line: str, encoding: str) -> str:
    """An encoding the line may be in: UTF-16 if it holds NUL bytes, else the first of UTF-8
    and cp1252 (what Windows spreadsheets save) that decodes its bytes, else latin-1."""
    try:
        raw = line.encode(encoding.removesuffix("-sig"), MARKS)
    except (UnicodeError, LookupError):
        return "cp1252"
    if b"\x00" in raw:
        return "utf-16-le" if raw[1::2].count(0) >= raw[::2].count(0) else "utf-16-be"
    for candidate in ("utf-8", "cp1252"):
        try:
            raw.decode(candidate)
        except UnicodeDecodeError:
            continue
        return candidate
    return "latin-1"


# --- The fast check ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scan:
    """What one reading of a CSV file found."""

    #: Physical lines (a last line without a line break counts).
    lines: int
    #: The number of the last line that is not blank (0 if there is none).
    last_text_line: int
    #: Every quote is closed: the file holds an even number of them.
    quotes_balanced: bool
    #: Lines holding a bad byte, and the first of them (number, line with marks).
    bad_lines: int = 0
    first_bad_line: tuple[int, str] | None = None

    @property
    def clean(self) -> bool:
        """Arrow can read the file as it is: every byte is text and every quote is closed."""
        return self.bad_lines == 0 and self.quotes_balanced


def scan(path: Path, encoding: str) -> Scan:
    """Read a CSV file once (or, if it holds bad bytes, twice) to find what :class:`Scan`
    holds. The result is kept while the file is unchanged: the build checks the inputs before
    dbt starts, the dbt plugin checks them again and reads each."""
    stat = path.stat()
    return _scan(path, encoding, stat.st_size, stat.st_mtime_ns, stat.st_ino)


@functools.lru_cache(maxsize=64)
def _scan(path: Path, encoding: str, size: int, mtime_ns: int, inode: int) -> Scan:
    counter = _LineCounter()
    quotes = 0
    try:
        for text in decoded(path, encoding, errors="strict"):
            if "\x00" in text:
                return _scan_lines(path, encoding)
            counter.add(text)
            quotes += text.count('"')
    except UnicodeDecodeError:
        return _scan_lines(path, encoding)
    return Scan(counter.lines, counter.last_text_line, quotes % 2 == 0)


def _scan_lines(path: Path, encoding: str) -> Scan:
    """The scan of a file with bad bytes, line by line."""
    number, bad, first_bad, quotes = 0, 0, None, 0
    last_text_line = 0
    for number, line in lines(decoded(path, encoding)):
        quotes += line.count('"')
        if line.strip("\r\n"):
            last_text_line = number
        if not is_text(line):
            bad += 1
            first_bad = first_bad or (number, line.rstrip("\r\n"))
    return Scan(number, last_text_line, quotes % 2 == 0, bad, first_bad)


class _LineCounter:
    """Counts the lines of a text given in chunks, and the last line that is not blank,
    without splitting it into lines."""

    def __init__(self) -> None:
        self.breaks = 0
        self.last_text_line = 0
        self._after_cr = False  # the text so far ends with CR
        self._open_line = False  # the text so far ends with something other than a line break

    @staticmethod
    def _breaks(text: str) -> int:
        return text.count("\n") + text.count("\r") - text.count("\r\n")

    def add(self, text: str) -> None:
        breaks = self._breaks(text)
        if self._after_cr and text.startswith("\n"):
            breaks -= 1  # the LF ends the CRLF whose CR was counted
        body = text.rstrip("\r\n")
        if body:
            # the breaks before the last character that is none, counted as breaks minus those
            # of the (short) run of breaks after it
            self.last_text_line = self.breaks + breaks - self._breaks(text[len(body) :]) + 1
        self.breaks += breaks
        self._after_cr = text.endswith("\r")
        self._open_line = bool(text) and text[-1] not in "\r\n"

    @property
    def lines(self) -> int:
        return self.breaks + self._open_line


# --- Records -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Record:
    """One CSV record: the line it starts on and its text with its final line break. A record
    that cannot be read has ``reason`` (a quarantine reason) and ``error`` set."""

    line: int
    text: str
    reason: str | None = None
    error: str | None = None


def records(path: Path, encoding: str, delimiter: str) -> Iterator[Record]:
    """The records of a CSV file after its header line, blank lines skipped, split by Arrow's
    quoting rules: a ``"`` opens a quoted field only at the start of a field (``12" screen``
    is a value), a quoted field may span lines, and ``""`` in it is a quote.

    Two kinds of record cannot be read:

    - one that holds a bad byte (:data:`Reason.INVALID_ENCODING`);
    - one whose quoted field, carried over to a later line, is never closed, or is closed by
      a quote followed by something other than the delimiter or the line's end: the quote
      that opened it was not meant to (``c1,"Mug,3`` followed by ``c2,"Cup",4``). Its first
      line is the record (:data:`Reason.MALFORMED_LINE`), and reading resumes on the next
      line, so one stray quote costs one line.
    """
    numbered = lines(decoded(path, encoding))
    next(numbered, None)  # the header
    again: deque[tuple[int, str]] = deque()  # lines to read again after a stray quote

    def next_line() -> tuple[int, str] | None:
        return again.popleft() if again else next(numbered, None)

    while (first := next_line()) is not None:
        number, line = first
        if not line.strip("\r\n"):
            continue
        quoted, stray = _quoting(line.rstrip("\r\n"), delimiter, quoted=False)
        taken: list[tuple[int, str]] = []
        while quoted and not stray:
            following = next_line()
            if following is None:
                stray = True
                break
            taken.append(following)
            quoted, stray = _quoting(following[1].rstrip("\r\n"), delimiter, quoted=True)
        if stray:
            again.extendleft(reversed(taken))
            yield Record(
                number,
                line,
                Reason.MALFORMED_LINE,
                "a quoted field starts on this line and is never closed",
            )
            continue
        text = line + "".join(following for _, following in taken)
        if is_text(text):
            yield Record(number, text)
        else:
            error = f"not {described(encoding)} text: {first_bad_byte(text)}"
            yield Record(number, text, Reason.INVALID_ENCODING, error)


def _quoting(text: str, delimiter: str, *, quoted: bool) -> tuple[bool, bool]:
    """How one physical line (without its break) leaves the quoting, starting inside a quoted
    field (``quoted``) or at the start of a record: whether it ends inside a quoted field, and
    whether the field carried over from the line before is closed by a stray quote (one
    followed by something other than the delimiter or the line's end)."""
    if not quoted and '"' not in text:
        return False, False
    carried, position, end = quoted, 0, len(text)
    while True:
        if quoted:
            closing = text.find('"', position)
            while 0 <= closing < end - 1 and text[closing + 1] == '"':  # "" is a quote
                closing = text.find('"', closing + 2)
            if closing < 0:
                return True, False
            position = closing + 1
            if carried and position < end and text[position] != delimiter:
                return False, True
            quoted = carried = False
        elif position < end and text[position] == '"':  # at the start of a field
            quoted = True
            position += 1
            continue
        # the rest of the field, to the next delimiter, is text (a quote in it too)
        delimiter_at = text.find(delimiter, position)
        if delimiter_at < 0:
            return False, False
        position = delimiter_at + 1
