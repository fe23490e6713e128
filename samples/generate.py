"""The bundled sample set, generated on the spot (no third-party media; everything here is
made by this script from Pillow, reportlab, python-docx, openpyxl, python-pptx, the standard
library, Debian festival and ffmpeg, so it carries this repository's licence): two files of each
media modality, the text ones a UTF-16 file and an HTML page in Latin-1, one document of each
format the document modality reads (PDF, a PDF with a ruled table, DOCX, XLSX, PPTX, CSV, RTF,
ODT, and an e-mail message whose one attachment becomes an object of its own) and one planted
bad file.

`python -m samples.generate OUT_DIR` writes them; `generate(out_dir)` returns the paths.
`attachment_keys(out_dir)` names the objects the messages among them add. The builders below
(XLSX, PPTX, RTF, ODT, e-mail, PDF table) make the inputs of the tests too.
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


def _pdf_table(title: str, rows: list[tuple[str, ...]], note: str) -> bytes:
    """A one-page PDF: a title line, a ruled table of `rows` (the first a header), a note below."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Table, TableStyle

    out = io.BytesIO()
    styles = getSampleStyleSheet()
    table = Table([list(r) for r in rows])
    table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.8, colors.black)]))
    SimpleDocTemplate(out, pagesize=A4).build([Paragraph(title, styles["Heading1"]), table,
                                               Paragraph(note, styles["Normal"])])
    return out.getvalue()


def rtf(title: str, paragraphs: list[str]) -> bytes:
    """An RTF document (Windows-1252, as WordPad saves it): a bold title, then paragraphs;
    non-ASCII characters as \\'hh escapes."""
    def escape(text: str) -> str:
        out = []
        for ch in text:
            if ch in "\\{}":
                out.append("\\" + ch)
            elif ord(ch) < 128:
                out.append(ch)
            else:
                out.append("\\'%02x" % ch.encode("cp1252")[0])
        return "".join(out)

    body = "".join(f"\\pard {escape(p)}\\par\n" for p in paragraphs)
    return ("{\\rtf1\\ansi\\ansicpg1252\\deff0{\\fonttbl{\\f0 Calibri;}}\n"
            f"\\pard\\b {escape(title)}\\b0\\par\n{body}}}\n").encode("ascii")


def odt(heading: str, paragraphs: list[str], rows: list[tuple[str, ...]]) -> bytes:
    """An OpenDocument text (the package layout of OpenDocument 1.3 part 2): a heading, paragraphs
    and a table of `rows` (the first a header)."""
    import zipfile
    from xml.sax.saxutils import escape

    cells = "".join(
        "<table:table-row>" + "".join(f'<table:table-cell office:value-type="string"><text:p>{escape(v)}</text:p>'
                                      "</table:table-cell>" for v in row) + "</table:table-row>" for row in rows)
    columns = f'<table:table-column table:number-columns-repeated="{len(rows[0])}"/>' if rows else ""
    content = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<office:document-content'
        ' xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"'
        ' xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"'
        ' xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" office:version="1.3">'
        f'<office:body><office:text><text:h text:outline-level="1">{escape(heading)}</text:h>'
        + "".join(f"<text:p>{escape(p)}</text:p>" for p in paragraphs)
        + (f'<table:table table:name="Table1">{columns}{cells}</table:table>' if rows else "")
        + "</office:text></office:body></office:document-content>")
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<manifest:manifest'
        ' xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.3">'
        '<manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.text"/>'
        '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
        "</manifest:manifest>")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as package:
        # "mimetype" first and stored: how readers (and sniff.py) tell the kind of package.
        package.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.text",
                         compress_type=zipfile.ZIP_STORED)
        package.writestr("content.xml", content)
        package.writestr("META-INF/manifest.xml", manifest)
    return out.getvalue()


def eml(subject: str, body: str, attachments: list[tuple[str, str, bytes]], html: bool = False) -> bytes:
    """An e-mail message (RFC 5322, MIME) with a text (or HTML) body and (filename, MIME type,
    data) attachments."""
    import datetime as dt
    from email.message import EmailMessage
    from email.utils import format_datetime

    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = "Harbour Office <office@harbour.example>"
    message["To"] = "Finance Team <finance@harbour.example>"
    message["Date"] = format_datetime(dt.datetime(2024, 3, 1, 9, 30, tzinfo=dt.UTC))
    message["Message-ID"] = "<sample-1@harbour.example>"
    if html:
        message.set_content(f"<html><body><p>{body}</p></body></html>", subtype="html")
    else:
        message.set_content(body)
    for filename, mime, data in attachments:
        maintype, subtype = mime.split("/", 1)
        if maintype == "text":
            message.add_attachment(data.decode("utf-8"), subtype=subtype, filename=filename)
        else:
            message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return message.as_bytes()


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
        "documents/fleet costs.pdf": _pdf_table("Fleet costs", [("Vessel", "Berth", "Cost"), ("Albatross", "North quay", "4100"),
                                                                ("Cormorant", "South quay", "2950")],
                                                "Costs are invoiced monthly by the harbour office."),
        "documents/stock levels.xlsx": _xlsx({"Stock": [("Item", "Warehouse", "Count"), ("Rope", "East", 120),
                                                        ("Anchor", "West", 8)]}),
        "documents/quarterly review.pptx": _pptx([
            ("Quarterly review", "Lighthouse renovation finished on time", [], "Thank the maintenance crew"),
            ("Budget", "", [("Item", "Cost"), ("Lamp", "300"), ("Paint", "120")], "")]),
        "documents/tide table.csv": b"port,high tide,low tide\nBrest,06:12,12:25\nCherbourg,07:40,13:55\n",
        "documents/crew memo.rtf": rtf("Crew memo", ["The night watch rota changes on Monday.",
                                                     "Café breaks stay at ten and three."]),
        "documents/berth plan.odt": odt("Berth plan", ["Berths are assigned a week ahead."],
                                        [("Berth", "Vessel"), ("B4", "Kestrel"), ("B7", "Osprey")]),
        # An e-mail message: its text is one object, its attachment (a text file) another.
        "documents/pilot schedule.eml": eml("Pilot schedule for March", "Please find the pilot schedule attached.",
                                            [("pilot schedule.txt", "text/plain",
                                              b"Pilot boarding times: the tanker Meridian boards at dawn.\n")]),
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


def attachment_keys(out_dir: Path) -> list[str]:
    """The ingest keys of the attachments the sample messages in `out_dir` add, as extract names
    them (functions.processing.formats.eml.read_eml)."""
    from functions.processing.formats.eml import read_eml

    keys = []
    with tempfile.TemporaryDirectory() as tmp:
        for path in sorted(out_dir.rglob("*.eml")):
            found = read_eml(path, path.relative_to(out_dir).as_posix(), Path(tmp))
            keys.extend(a.key for a in found.attachments if a.key)
    return keys


if __name__ == "__main__":
    for path in generate(Path(sys.argv[1] if len(sys.argv) > 1 else "samples/out")):
        print(path)
