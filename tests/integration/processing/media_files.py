"""Test inputs made on the spot: images with drawn words, festival speech, ffmpeg videos,
reportlab PDFs (one page scanned), python-docx documents with a table, latin-1 text."""
from __future__ import annotations

import io
import subprocess
from pathlib import Path

SPOKEN = "the weather is nice today and the cat sleeps on the green sofa"
DRAWN_WORDS = ["INVOICE", "PIPELINE", "HELLO"]


def words_image(words: list[str] = DRAWN_WORDS, fmt: str = "PNG", size=(900, 300), exif: bool = False) -> bytes:
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=56)
    draw.text((30, 100), " ".join(words), fill="black", font=font)
    out = io.BytesIO()
    kwargs = {}
    if exif:
        ex = Image.Exif()
        ex[0x010F] = "TestCam"  # Make
        ex[0x0110] = "Model 1"  # Model
        kwargs["exif"] = ex
    image.save(out, fmt, **kwargs)
    return out.getvalue()


def speech_wav(tmp: Path, text: str = SPOKEN, name: str = "speech.wav") -> Path:
    source = tmp / (name + ".txt")
    source.write_text(text)
    out = tmp / name
    subprocess.run(["text2wave", "-eval", "(voice_cmu_us_slt_arctic_hts)", str(source), "-o", str(out)],
                   check=True, capture_output=True)
    return out


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args], check=True, capture_output=True)


def speech_mp3(tmp: Path, wav: Path) -> Path:
    out = tmp / "speech.mp3"
    ffmpeg("-i", str(wav), "-ac", "1", "-b:a", "64k", str(out))
    return out


def speech_video(tmp: Path, wav: Path, seconds: float = 12.0) -> Path:
    """A testsrc video of `seconds` with the speech at its start and silence after."""
    out = tmp / "talk.mp4"
    ffmpeg("-f", "lavfi", "-i", f"testsrc=duration={seconds}:size=320x240:rate=10",
           "-i", str(wav), "-filter_complex", f"[1:a]apad=whole_dur={seconds}[a]", "-map", "0:v", "-map", "[a]",
           "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-t", str(seconds), str(out))
    return out


def silent_video(tmp: Path, seconds: float = 3.0) -> Path:
    out = tmp / "silent.mp4"
    ffmpeg("-f", "lavfi", "-i", f"testsrc=duration={seconds}:size=160x120:rate=10",
           "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(out))
    return out


SCENE_WORDS = ["HARBOUR", "LIGHTHOUSE"]


def scenes_video(tmp: Path, scenes: list[tuple[str, float]], size: tuple[int, int] = (960, 540),
                 name: str = "scenes.mp4") -> Path:
    """Still scenes cut hard one after the other, 10 frames a second: each (colour, seconds), or
    ("words", seconds) for black SCENE_WORDS drawn on white (PIL; no font needed by ffmpeg)."""
    picture = tmp / "scene_words.png"
    picture.write_bytes(words_image(SCENE_WORDS, size=size))
    inputs: list[str] = []
    for colour, seconds in scenes:
        if colour == "words":
            inputs += ["-loop", "1", "-framerate", "10", "-t", str(seconds), "-i", str(picture)]
        else:
            inputs += ["-f", "lavfi", "-i", f"color=c={colour}:s={size[0]}x{size[1]}:r=10:d={seconds}"]
    graph = "".join(f"[{i}:v]format=yuv420p,setsar=1[v{i}];" for i in range(len(scenes)))
    graph += "".join(f"[v{i}]" for i in range(len(scenes))) + f"concat=n={len(scenes)}:v=1:a=0[v]"
    out = tmp / name
    ffmpeg(*inputs, "-filter_complex", graph, "-map", "[v]", "-r", "10", "-c:v", "libx264", "-preset", "ultrafast",
           "-pix_fmt", "yuv420p", str(out))
    return out


def pdf_with_scanned_page() -> bytes:
    """Page 1: text; page 2: only an image of words (scanned); page 3: text and a table."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    out = io.BytesIO()
    c = canvas.Canvas(out, pagesize=A4)
    c.setFont("Helvetica", 14)
    c.drawString(72, 760, "Quarterly report about the river delta project.")
    c.drawString(72, 740, "Revenue grew strongly across every northern region.")
    c.showPage()
    c.drawImage(ImageReader(io.BytesIO(words_image(["SCANNED", "RECEIPT", "TOTAL"], size=(1200, 300)))), 50, 500,
                width=500, height=125)
    c.showPage()
    c.setFont("Helvetica", 12)
    c.drawString(72, 760, "Table of harvests by orchard:")
    for i, (a, b) in enumerate([("Apples", "120"), ("Pears", "45")]):
        c.drawString(72, 730 - 20 * i, a)
        c.drawString(200, 730 - 20 * i, b)
    c.showPage()
    c.save()
    return out.getvalue()


def docx_with_table() -> bytes:
    import docx
    from docx.enum.text import WD_BREAK

    document = docx.Document()
    document.add_heading("Meeting notes", level=1)
    document.add_paragraph("The committee approved the lighthouse renovation budget.")
    table = document.add_table(rows=3, cols=2)
    for r, (a, b) in enumerate([("Item", "Cost"), ("Lamp", "300"), ("Paint", "75")]):
        table.cell(r, 0).text = a
        table.cell(r, 1).text = b
    document.add_paragraph("End of first page.").add_run().add_break(WD_BREAK.PAGE)
    document.add_paragraph("Second page mentions the harbour master.")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def long_text(words: int = 500) -> str:
    vocabulary = "river mountain forest ocean desert valley meadow canyon glacier island".split()
    return " ".join(f"{vocabulary[i % len(vocabulary)]}{i}" for i in range(words)) + "."


def sales_xlsx() -> bytes:
    """Two sheets: regional sales with a header row, and a second sheet of many rows."""
    from samples.generate import _xlsx

    return _xlsx({
        "Sales": [("Region", "Q1", "Q2"), ("North", 120, 135), ("South", 98, 101), ("Harbour", 44, 57)],
        "Stock": [("Part", "Count")] + [(f"part{n}", n) for n in range(1, 41)],
    })


def review_pptx() -> bytes:
    from samples.generate import _pptx

    return _pptx([
        ("Quarterly review", "Revenue grew in every region", [], "Mention the lighthouse renovation"),
        ("Costs", "", [("Item", "Cost"), ("Lamp", "300"), ("Paint", "75")], ""),
    ])
