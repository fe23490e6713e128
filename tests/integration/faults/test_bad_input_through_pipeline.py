"""A corpus of bad input, generated here, through the whole local pipeline in one run.

Corrupt and truncated JPEG/PNG/MP4/MP3/WAV/PDF/DOCX/UTF-16 text, zero-byte files, a lying content type,
unsupported types, an encrypted PDF, decompression bombs (huge declared image dimensions, a
PDF page whose image inflates to gigabytes, a deeply nested PDF), a file above
MAX_OBJECT_BYTES (set low for this run), beside good files with very long, unicode,
space- and percent-laden keys. Each bad file must end as one failure row with a clear
reason, in bounded time and memory, and the good files must be unaffected.
"""
from __future__ import annotations

import contextlib
import io
import resource
import subprocess
import time
import wave
import zlib
from dataclasses import dataclass
from pathlib import Path

import pytest
from pipeline_outcomes import Outcome, outcomes

MAX_OBJECT_BYTES = 1_500_000
# Peak resident memory may grow this much over the run (the bombs would take gigabytes).
MAX_RSS_GROWTH_BYTES = 1536 * 1024 * 1024
MAX_RUN_SECONDS = 240
LONG_DIR = "deep " + "ünïcødé-ßpace %20 plus+sign 名前 " * 5  # ~230 bytes per folder
LONG_KEY = "/".join(["keys"] + [LONG_DIR.strip()] * 4 + ["file with spaces & 100% ünïcødé.txt"])


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def _wav(seconds: float = 1.0) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000)
        w.writeframes(b"\x01\x00" * int(16000 * seconds))
    return out.getvalue()


def _encrypted_pdf(pdf: bytes) -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    writer.encrypt(user_password="secret", owner_password="owner")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _pdf_objects(objects: list[bytes]) -> bytes:
    """A minimal PDF from raw object bodies (1-based numbering), with a correct xref table."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def _pdf_with_image_bomb() -> bytes:
    """One huge page (200 x 200 in) whose only content is a 60000 x 60000 grey image: a few
    hundred KB of Flate that inflates to 3.6 GB."""
    side = 60000
    compressor = zlib.compressobj(9)
    row = b"\x00" * side
    data = b"".join(compressor.compress(row) for _ in range(200)) + compressor.flush()  # first rows only: stream is cut
    content = b"q 14400 0 0 14400 0 0 cm /Im0 Do Q"
    return _pdf_objects([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 14400 14400] /Resources << /XObject << /Im0 5 0 R >> >>"
        b" /Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content),
        b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray /BitsPerComponent 8"
        b" /Filter /FlateDecode /Length %d >>\nstream\n%s\nendstream" % (side, side, len(data), data),
    ])


def _pdf_deeply_nested(depth: int = 20000) -> bytes:
    nested = b"[" * depth + b"]" * depth
    content = b"BT /F1 12 Tf 72 700 Td (nested) Tj ET"
    return _pdf_objects([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Nest %s >>" % nested,
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content),
    ])


def _png_bomb() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("1", (20000, 20000)).save(out, "PNG")  # 400 MP declared, a few KB on disk
    return out.getvalue()


def build_corpus(root: Path) -> tuple[dict[str, tuple[str, str]], list[str]]:
    """Write the corpus under `root`. Returns ({bad key: (error name, reason words)}, [good keys])."""
    from samples.generate import _docx, _image, _pdf, _pptx, _xlsx

    tmp = root.parent / "media-tmp"
    tmp.mkdir(exist_ok=True)
    jpeg, png = _image(["BAD", "INPUT"], "JPEG"), _image(["BAD", "INPUT"], "PNG")
    pdf, docx = _pdf("Corpus", ["a page of text for the corpus"]), _docx("Corpus", [("north", "12")])
    xlsx = _xlsx({"Sales": [("Region", "Q1"), ("North", 120)]})
    pptx = _pptx([("Corpus", "a slide for the corpus", [], "notes")])
    wav = _wav()
    (tmp / "tone.wav").write_bytes(wav)
    _ffmpeg("-i", str(tmp / "tone.wav"), str(tmp / "tone.mp3"))
    _ffmpeg("-f", "lavfi", "-i", "testsrc=size=160x120:rate=10", "-t", "2", "-pix_fmt", "yuv420p", str(tmp / "clip.mp4"))
    _mp3, mp4 = (tmp / "tone.mp3").read_bytes(), (tmp / "clip.mp4").read_bytes()

    invalid = "InvalidObjectError"
    bad: dict[str, tuple[bytes, str, str]] = {
        "bad/corrupt.jpg": (jpeg[:20] + bytes(range(256)) * 8, invalid, "image"),
        "bad/truncated.jpg": (jpeg[: len(jpeg) // 2], invalid, "truncated"),
        "bad/corrupt.png": (png[:60] + b"\x00" * 300 + png[360:], invalid, "image"),
        "bad/truncated.png": (png[: len(png) // 3], invalid, "truncated"),
        "bad/truncated.mp4": (mp4[: len(mp4) // 3], invalid, ""),
        "bad/corrupt.mp4": (mp4[:32] + b"\xde\xad" * 2000, invalid, ""),
        "bad/corrupt.mp3": (b"ID3\x03\x00\x00\x00\x00\x00\x00" + b"\x13\x37" * 3000, invalid, ""),
        "bad/truncated.wav": (wav[:30], invalid, ""),
        "bad/corrupt.pdf": (pdf[:40] + b"\x00garbage" * 200, invalid, "PDF"),
        "bad/truncated.pdf": (pdf[: len(pdf) // 3], invalid, "PDF"),
        "bad/corrupt.docx": (docx[:200] + b"\x00" * 500, invalid, ""),
        "bad/truncated.xlsx": (xlsx[: len(xlsx) // 2], invalid, "truncated"),
        "bad/truncated.pptx": (pptx[: len(pptx) // 2], invalid, "truncated"),
        "bad/empty.txt": (b"", invalid, "empty (0 bytes)"),
        "bad/empty.png": (b"", invalid, "empty (0 bytes)"),
        "bad/liar.pdf": (png, invalid, "content does not match its type"),
        "bad/program.exe": (b"\x7fELF\x02\x01\x01" + b"\x00" * 500, "UnsupportedTypeError", "unsupported type"),
        "bad/mystery.xyz": (bytes(range(256)) * 4, "UnsupportedTypeError", "unsupported type"),
        "bad/encrypted.pdf": (_encrypted_pdf(pdf), invalid, "password-protected"),
        "bad/bomb.png": (_png_bomb(), invalid, "decompression bomb"),
        "bad/huge page bomb.pdf": (_pdf_with_image_bomb(), invalid, "decompression bomb"),
        "bad/deeply nested.pdf": (_pdf_deeply_nested(), invalid, "PDF"),
        "bad/too big.txt": ((b"word " * (MAX_OBJECT_BYTES // 5 + 1000)), invalid, "above MAX_OBJECT_BYTES"),
        "bad/truncated utf16.txt": (("a UTF-16 file cut in transit " * 20).encode("utf-16")[:-1], invalid,
                                    "UTF-16 LE text is truncated"),
    }
    good = {
        LONG_KEY: b"a good file behind a very long unicode key with spaces and percent signs\n" * 20,
        "good/plain.txt": b"the good files must be unaffected by the bad ones around them\n" * 20,
        "good/page.pdf": pdf,
        "good/sheet.xlsx": xlsx,
        "good/table.csv": b"region,q1\nnorth,120\nsouth,98\n",
        "good/photo.png": png,
        "good/unicode.txt": ("a UTF-16 file with its byte-order mark, as Notepad saves it\n" * 20).encode("utf-16"),
        "good/page.html": b"<!DOCTYPE html><html><head><title>Good page</title><script>x()</script></head>"
                          b"<body><h1>Good</h1><p>an HTML page read as text beside the bad files</p></body></html>",
    }
    expected = {}
    for key, (data, error, words) in bad.items():
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        expected[key] = (error, words)
    for key, data in good.items():
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return expected, list(good)


@dataclass
class CorpusRun:
    expected: dict[str, tuple[str, str]]
    good: list[str]
    outcomes: dict[str, Outcome]
    seconds: float
    rss_growth: int
    executions: list[dict]


def _peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> CorpusRun:
    from functions.common.constants import ENV_MAX_OBJECT_BYTES
    from local.faults import fast_state_retries
    from local.run import BUCKETS, LocalPipeline

    work = tmp_path_factory.mktemp("bad-input")
    root = work / "corpus"
    expected, good = build_corpus(root)
    files = sorted(p for p in root.rglob("*") if p.is_file())
    with contextlib.redirect_stdout(io.StringIO()), LocalPipeline(work, progress=False) as pipeline, \
            fast_state_retries(0.05):
        import os

        os.environ[ENV_MAX_OBJECT_BYTES] = str(MAX_OBJECT_BYTES)  # read by the steps on their first invocation
        rss_before, started = _peak_rss_bytes(), time.monotonic()
        pipeline.forward(pipeline.upload(root, files))
        executions = pipeline.process(len(files), timeout_s=MAX_RUN_SECONDS)
        seconds, rss_growth = time.monotonic() - started, _peak_rss_bytes() - rss_before
        found = outcomes(pipeline.db_env, BUCKETS["ingest"])
    return CorpusRun(expected, good, found, seconds, rss_growth, executions)


def test_every_file_of_the_corpus_has_exactly_one_outcome(corpus):
    assert set(corpus.expected) == set(BAD_KEYS)
    assert set(corpus.outcomes) == set(corpus.expected) | set(corpus.good)
    for key, outcome in corpus.outcomes.items():
        assert outcome.complete != outcome.failed, (key, outcome)
    assert corpus.executions and all(e["status"] == "SUCCEEDED" for e in corpus.executions)


BAD_KEYS = [
    "bad/corrupt.jpg", "bad/truncated.jpg", "bad/corrupt.png", "bad/truncated.png", "bad/truncated.mp4",
    "bad/corrupt.mp4", "bad/corrupt.mp3", "bad/truncated.wav", "bad/corrupt.pdf", "bad/truncated.pdf",
    "bad/corrupt.docx", "bad/truncated.xlsx", "bad/truncated.pptx", "bad/empty.txt", "bad/empty.png", "bad/liar.pdf", "bad/program.exe", "bad/mystery.xyz",
    "bad/encrypted.pdf", "bad/bomb.png", "bad/huge page bomb.pdf", "bad/deeply nested.pdf", "bad/too big.txt", "bad/truncated utf16.txt"]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_bad_file_ends_as_one_failure_row_with_a_clear_reason(corpus, key):
    outcome = corpus.outcomes[key]
    assert outcome.failed, outcome
    failed_step, error, reason = outcome.failure
    want_error, want_words = corpus.expected[key]
    assert failed_step == "extract"
    if want_error:
        assert error == want_error, reason
    else:  # the bombs: any refusal by extract, as long as it says why in words
        assert error in ("InvalidObjectError", "UnsupportedTypeError"), (error, reason)
    assert want_words in reason
    assert len(reason) >= 10 and "Traceback" not in reason


def test_good_files_beside_the_bad_ones_are_complete(corpus):
    for key in corpus.good:
        assert corpus.outcomes[key].complete, corpus.outcomes[key]


def test_very_long_unicode_key_with_spaces_and_percent_signs_round_trips(corpus):
    assert len(LONG_KEY.encode("utf-8")) > 700
    assert corpus.outcomes[LONG_KEY].complete


def test_the_corpus_is_handled_in_bounded_time_and_memory(corpus):
    assert corpus.seconds < MAX_RUN_SECONDS
    assert corpus.rss_growth < MAX_RSS_GROWTH_BYTES, f"peak RSS grew by {corpus.rss_growth / 2**20:.0f} MiB"
