"""The bundled sample set, generated on the spot (no third-party media; everything here is
made by this script from Pillow, reportlab, python-docx, Debian festival and ffmpeg, so it
carries this repository's licence): two files of each modality (the text ones a UTF-16 file and
an HTML page in Latin-1) and one planted bad file.

`python -m samples.generate OUT_DIR` writes them; `generate(out_dir)` returns the paths. The
XLSX and PPTX builders (openpyxl, python-pptx) make the table and slide inputs of the tests.
"""
from __future__ import annotations

import io
import subprocess
import sys
import tempfile
from pathlib import Path

SPEECH = [
    "the weather is nice today and the cat sleeps on the green sofa",
    "please send the quarterly report to the finance team before friday",
]
DRAWN = [["INVOICE", "PIPELINE", "HELLO"], ["QUARTERLY", "REPORT", "FINANCE"]]


def _image(words: list[str], fmt: str) -> bytes:
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", (900, 300), "white")
    ImageDraw.Draw(image).text((30, 100), " ".join(words), fill="black", font=ImageFont.load_default(size=56))
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


def _speech(text: str, wav: Path) -> None:
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write(text)
    subprocess.run(["text2wave", "-eval", "(voice_cmu_us_slt_arctic_hts)", f.name, "-o", str(wav)],
                   check=True, capture_output=True)


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def _pdf(title: str, lines: list[str]) -> bytes:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    out = io.BytesIO()
    pdf = canvas.Canvas(out, pagesize=A4)
    for page, text in enumerate(lines, start=1):
        pdf.setFont("Helvetica", 14)
        pdf.drawString(72, 760, f"{title} - page {page}")
        pdf.drawString(72, 730, text)
        pdf.showPage()
    pdf.save()
    return out.getvalue()


def _docx(heading: str, rows: list[tuple[str, str]]) -> bytes:
    import docx

    document = docx.Document()
    document.add_heading(heading, level=1)
    document.add_paragraph("Totals by region for the last quarter, as agreed with the finance team.")
    table = document.add_table(rows=0, cols=2)
    for left, right in rows:
        cells = table.add_row().cells
        cells[0].text, cells[1].text = left, right
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _xlsx(sheets: dict[str, list[tuple]]) -> bytes:
    """A workbook with one sheet per entry, its rows as given (the first one a header)."""
    import openpyxl

    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _pptx(slides: list[tuple[str, str, list[tuple[str, ...]], str]]) -> bytes:
    """A presentation of (title, body, table rows, speaker notes) slides; empty parts are left out."""
    import pptx
    from pptx.util import Inches

    deck = pptx.Presentation()
    for title, body, rows, notes in slides:
        slide = deck.slides.add_slide(deck.slide_layouts[1 if body else 5])
        slide.shapes.title.text = title
        if body:
            slide.placeholders[1].text = body
        if rows:
            grid = slide.shapes.add_table(len(rows), len(rows[0]), Inches(1), Inches(2), Inches(6), Inches(2)).table
            for r, row in enumerate(rows):
                for c, value in enumerate(row):
                    grid.cell(r, c).text = value
        if notes:
            slide.notes_slide.notes_text_frame.text = notes
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()


def _html(title: str, sections: list[tuple[str, str]]) -> str:
    body = "".join(f"<h2>{heading}</h2>\n<p>{text}</p>\n" for heading, text in sections)
    return (f'<!DOCTYPE html>\n<html><head><meta charset="iso-8859-1"><title>{title}</title>\n'
            "<style>h2 { color: navy }</style><script>var tracking = 'not text';</script></head>\n"
            f"<body><h1>{title}</h1>\n{body}</body></html>\n")


def generate(out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    files: dict[str, bytes] = {
        "images/invoice hello.png": _image(DRAWN[0], "PNG"),
        "images/quarterly-report.jpg": _image(DRAWN[1], "JPEG"),
        # UTF-16 with its byte-order mark, as Windows Notepad saves "Unicode" text.
        "text/notes.txt": ("Kafka batches start Step Functions executions. Each modality has its own Map state. "
                           "Results land in PostgreSQL with pgvector for similarity search. " * 8).encode("utf-16"),
        # HTML in Latin-1 that says so in <meta charset>: read as text, title and headings kept.
        "text/résumé latin1.html": _html("Résumé", [
            ("Skills", "Café crème, naïve façade: the résumé lists skills in data engineering. " * 3),
            ("Experience", "Built streaming pipelines with Kafka, Step Functions and PostgreSQL. " * 3),
        ]).encode("latin-1"),
        "documents/handbook.pdf": _pdf("Operations handbook", [
            "Alarms publish to an encrypted SNS topic.", "Backfills run nightly on Airflow."]),
        "documents/regional totals.docx": _docx("Regional totals", [("Region", "Total"), ("North", "1200"), ("South", "950")]),
        # Planted bad input: a "PDF" that is not one. It must end as a failure row with a reason.
        "documents/broken.pdf": b"%PDF-1.7\nthis file was truncated in transit",
    }
    for relative, data in files.items():
        path = out_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    audio = out_dir / "audio"
    video = out_dir / "video"
    audio.mkdir(exist_ok=True)
    video.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for i, text in enumerate(SPEECH):
            wav = Path(tmp) / f"speech{i}.wav"
            _speech(text, wav)
            if i == 0:
                _ffmpeg("-i", str(wav), "-ar", "22050", str(audio / "weather report.wav"))
                _ffmpeg("-f", "lavfi", "-i", "testsrc=size=320x240:rate=10", "-i", str(wav), "-t", "8",
                        "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(video / "weather clip.mp4"))
            else:
                _ffmpeg("-i", str(wav), "-codec:a", "libmp3lame", "-q:a", "4", str(audio / "finance memo.mp3"))
                _ffmpeg("-f", "lavfi", "-i", "smptebars=size=320x240:rate=10", "-i", str(wav), "-t", "8",
                        "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(video / "finance clip.mp4"))
    return sorted(p for p in out_dir.rglob("*") if p.is_file())


if __name__ == "__main__":
    for path in generate(Path(sys.argv[1] if len(sys.argv) > 1 else "samples/out")):
        print(path)
