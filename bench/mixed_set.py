"""A larger generated file set for the pipeline benchmark: small but real files, mixed modalities.

    .venv/bin/python bench/mixed_set.py OUT_DIR [--files 200]

The mix follows the cost model's stated mix (60 % images, 20 % documents, 10 % text, 5 % audio,
5 % video). Everything is made here (Pillow, reportlab, python-docx, Debian festival, ffmpeg):
images carry drawn words (so OCR has something to read), documents are text PDFs, DOCX with a
table, and every fifth PDF is a scanned page (an image, no text layer: the OCR path); text
files hold 300-1,500 words (several chunks each, so the text embedder gets batches); audio is
5-15 s of synthesized speech in WAV/MP3/FLAC; video is 6-10 s of a test pattern with speech.
Media are short on purpose (a 2-core machine); the cost model scales them to 1 minute.
"""
from __future__ import annotations

import argparse
import io
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from samples.generate import SPEECH, _docx, _ffmpeg, _image, _pdf, _speech  # noqa: E402

MIX = {"image": 0.60, "document": 0.20, "text": 0.10, "audio": 0.05, "video": 0.05}
WORDS = ("pipeline invoice report finance quarterly region north south revenue customer backfill alarm "
         "vector search embedding model endpoint batch stream kafka lambda state machine storage bucket "
         "policy network database index query latency throughput cost budget forecast summary").split()
MORE_SPEECH = SPEECH + [
    "the backfill runs every night and reprocesses the objects that changed",
    "search results come from the vector index in the database",
]


def counts(total: int) -> dict[str, int]:
    """Files per modality for `total` files (largest remainder, so they sum to `total`)."""
    raw = {m: total * share for m, share in MIX.items()}
    out = {m: int(v) for m, v in raw.items()}
    for m in sorted(raw, key=lambda m: raw[m] - out[m], reverse=True)[: total - sum(out.values())]:
        out[m] += 1
    return out


def _sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def _scanned_pdf(words: list[str]) -> bytes:
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    out = io.BytesIO()
    pdf = canvas.Canvas(out, pagesize=A4)
    pdf.drawImage(ImageReader(io.BytesIO(_image(words, "PNG"))), 36, 500, width=520, height=173)
    pdf.showPage()
    pdf.save()
    return out.getvalue()


def generate(out_dir: Path, total: int = 200, seed: int = 8) -> list[Path]:
    """Write `total` files under out_dir/<modality>/; returns their paths (sorted)."""
    rng = random.Random(seed)
    plan = counts(total)
    out_dir.mkdir(parents=True, exist_ok=True)
    files: dict[str, bytes] = {}
    for i in range(plan["image"]):
        words = [rng.choice(WORDS).upper() for _ in range(rng.randint(2, 3))]
        fmt = "PNG" if i % 2 else "JPEG"
        files[f"image/img-{i:04d}.{fmt.lower().replace('jpeg', 'jpg')}"] = _image(words, fmt)
    for i in range(plan["document"]):
        title = _sentence(rng, 3)
        if i % 5 == 4:
            files[f"document/scan-{i:04d}.pdf"] = _scanned_pdf([rng.choice(WORDS).upper() for _ in range(3)])
        elif i % 2:
            files[f"document/doc-{i:04d}.pdf"] = _pdf(title, [_sentence(rng, 14) for _ in range(rng.randint(2, 4))])
        else:
            rows = [(rng.choice(WORDS), str(rng.randint(10, 9999))) for _ in range(rng.randint(3, 8))]
            files[f"document/doc-{i:04d}.docx"] = _docx(title, rows)
    for i in range(plan["text"]):
        body = " ".join(_sentence(rng, rng.randint(8, 16)) for _ in range(rng.randint(30, 120)))
        files[f"text/text-{i:04d}.txt"] = body.encode()
    for relative, data in files.items():
        path = out_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (out_dir / "audio").mkdir(exist_ok=True)
    (out_dir / "video").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        speech = []
        for i, text in enumerate(MORE_SPEECH):
            wav = Path(tmp) / f"s{i}.wav"
            _speech(text, wav)
            speech.append(wav)
        for i in range(plan["audio"]):
            parts = [speech[(i + j) % len(speech)] for j in range(1 + i % 3)]
            listing = Path(tmp) / f"a{i}.txt"
            listing.write_text("".join(f"file '{p}'\n" for p in parts))
            ext, codec = [("wav", ["-ar", "22050"]), ("mp3", ["-codec:a", "libmp3lame", "-q:a", "5"]),
                          ("flac", [])][i % 3]
            _ffmpeg("-f", "concat", "-safe", "0", "-i", str(listing), *codec, str(out_dir / "audio" / f"audio-{i:04d}.{ext}"))
        for i in range(plan["video"]):
            pattern = ("testsrc", "smptebars", "rgbtestsrc")[i % 3]
            seconds = 6 + (i % 3) * 2
            _ffmpeg("-f", "lavfi", "-i", f"{pattern}=size=320x240:rate=10", "-i", str(speech[i % len(speech)]),
                    "-t", str(seconds), "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac",
                    str(out_dir / "video" / f"video-{i:04d}.mp4"))
    return sorted(p for p in out_dir.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--files", type=int, default=200)
    args = parser.parse_args()
    paths = generate(args.out_dir, args.files)
    print(f"{len(paths)} files in {args.out_dir}: {counts(args.files)}")


if __name__ == "__main__":
    main()
