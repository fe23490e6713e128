"""Extraction loses no text and no table structure (issue 26): each test builds a file that
showed a defect on Unstructured's example documents and checks what the reader returns."""
from __future__ import annotations

import io
import struct
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from functions.common.errors import InvalidObjectError


# -- detection: a weak signature never wins over text ------------------------------------------
@pytest.mark.parametrize("text", [
    "For free shipping on orders above 50 euros, see the terms below.\n",
    "The widespread use of containers changed shipping.\n",
    "The wider world of trade opened after 1850.\n",
    "Now skip the introduction and read chapter two.\n",
    "See mdat boxes in the ISO base media format notes.\n",
    "See moov boxes described in the QuickTime notes.\n",
    "See pnot atoms: preview data in old QuickTime files.\n",
])
def test_text_with_a_quicktime_atom_name_at_offset_4_is_text(tmp_path, text):
    from functions.processing.formats.detect import sniff

    data = text.encode() * 3
    assert data[4:8] in (b"free", b"wide", b"skip", b"mdat", b"moov", b"pnot")
    path = tmp_path / "note.txt"
    path.write_bytes(data)

    assert (sniff(data, path).family, sniff(data, path).format) == ("text", "text")
    assert sniff(data).format == "text"  # the head alone (no file size to check) also reads as text


@pytest.mark.parametrize("first", [b"wide", b"moov", b"free"])
def test_a_real_quicktime_atom_chain_is_still_a_movie(tmp_path, first):
    from functions.processing.formats.detect import sniff

    data = struct.pack(">I", 16) + first + b"\x00" * 8 + struct.pack(">I", 8 + 64) + b"mdat" + bytes(range(64))
    path = tmp_path / "clip.mov"
    path.write_bytes(data)

    assert sniff(data, path).family == "media"


def test_a_refusal_names_the_extension_that_claimed_the_type():
    from functions.processing.formats.detect import check_modality, sniff

    with pytest.raises(InvalidObjectError) as caught:
        check_modality("text", sniff(bytes(range(256)) * 4), None, "notes/readme.txt")

    assert "the extension '.txt'" in str(caught.value) and "no content type" not in str(caught.value)
    assert "binary data" in str(caught.value)


# -- UTF-16 without a byte-order mark -----------------------------------------------------------
@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_without_a_byte_order_mark_is_detected_and_decoded(codec):
    from functions.processing.formats.detect import sniff
    from functions.processing.formats.text import decode

    text = "Grüße aus Köln: the harbour opens at 6 a.m. on weekdays.\n" * 4
    data = text.encode(codec)

    detected = sniff(data)
    decoded = decode(data)

    assert detected.family == "text" and "without a byte-order mark" in detected.description
    assert (decoded.text, decoded.encoding) == (text, codec)


def test_binary_words_with_nul_high_bytes_are_not_taken_for_utf16():
    from functions.processing.formats.detect import sniff

    data = struct.pack("<200H", *range(200))  # small integers: NUL high bytes, control low bytes

    assert sniff(data).family != "text"


def test_a_wav_whose_samples_look_like_utf16_is_still_audio():
    from functions.processing.formats.detect import sniff

    samples = "quiet ramp of small samples " * 40  # 16-bit samples 0x0020-0x0072: NUL high bytes
    fmt = struct.pack("<4sIHHIIHH", b"fmt ", 16, 1, 1, 16000, 32000, 2, 16)
    data = samples.encode("utf-16-le")
    wav = b"RIFF" + struct.pack("<I", 4 + len(fmt) + 8 + len(data)) + b"WAVE" + fmt + b"data" + struct.pack("<I", len(data)) + data

    assert sniff(wav).family == "media"


def test_an_eml_in_utf16_without_a_byte_order_mark_is_read_as_a_message(tmp_path):
    from functions.processing.formats import eml
    from functions.processing.formats.detect import as_claimed_document, sniff

    message = ("From: Ana <ana@example.com>\r\nTo: Bo <bo@example.com>\r\nSubject: Harbour schedule\r\n"
               "Content-Type: text/plain; charset=utf-8\r\n\r\nThe ferry leaves at noon from pier 4.\r\n")
    path = tmp_path / "mail.eml"
    path.write_bytes(message.encode("utf-16-le"))
    head = path.read_bytes()

    detected = as_claimed_document(sniff(head, path), head, "mail/mail.eml", None)
    found = eml.read_eml(path, "mail/mail.eml", tmp_path)

    assert detected.format == "eml"
    assert found.document.metadata["headers"]["subject"] == "Harbour schedule"
    assert "The ferry leaves at noon from pier 4." in found.document.pages[0].text


# -- DOCX --------------------------------------------------------------------------------------
def _docx_with_comment_header_footer_and_nested_table(path: Path) -> None:
    import docx
    from lxml import etree

    document = docx.Document()
    section = document.sections[0]
    section.header.paragraphs[0].text = "Harbour Authority quarterly header"
    section.footer.paragraphs[0].text = "Confidential footer line"
    document.add_paragraph("Opening paragraph of the report.")
    outer = document.add_table(rows=2, cols=2)
    for (r, col), text in {(0, 0): "Berth", (0, 1): "Schedule", (1, 0): "North"}.items():
        outer.cell(r, col).text = text
    cell = outer.cell(1, 1)
    cell.text = "See the inner table"
    inner = cell.add_table(rows=2, cols=2)
    for (r, col), text in {(0, 0): "Ship", (0, 1): "Arrives", (1, 0): "Etoile", (1, 1): "06:00"}.items():
        inner.cell(r, col).text = text
    body = document.element.body
    body.insert(0, etree.Comment(" generated by a report tool "))
    paragraph = document.add_paragraph("Closing paragraph.")
    paragraph._p.append(etree.ProcessingInstruction("mso-application", 'progid="Word.Document"'))
    paragraph._p.append(etree.Comment(" a comment inside a paragraph "))
    document.save(str(path))


def test_docx_with_xml_comments_headers_footers_and_a_nested_table(tmp_path):
    from functions.processing.formats.office import extract_docx

    path = tmp_path / "report.docx"
    _docx_with_comment_header_footer_and_nested_table(path)

    doc = extract_docx(path)

    [page] = doc.pages
    assert page.text.startswith("Harbour Authority quarterly header")
    assert page.text.endswith("Confidential footer line")
    assert "Opening paragraph of the report." in page.text and "Closing paragraph." in page.text
    outer, inner = page.tables
    assert outer.rows == [["Berth", "Schedule"], ["North", "See the inner table"]]
    assert inner.rows == [["Ship", "Arrives"], ["Etoile", "06:00"]] and inner.index == outer.index + 1
    assert "Ship: Etoile; Arrives: 06:00" in page.text
    assert doc.metadata["tables"] == 2 and doc.metadata["headers"] == 1 and doc.metadata["footers"] == 1


def test_docx_line_breaks_inside_a_paragraph_keep_words_apart(tmp_path):
    import docx

    from functions.processing.formats.office import extract_docx

    document = docx.Document()
    run = document.add_paragraph().add_run("0:0:1.510")
    run.add_break()
    run.add_text("Some Body")
    document.save(str(tmp_path / "chat.docx"))

    [page] = extract_docx(tmp_path / "chat.docx").pages

    assert page.text == "0:0:1.510\nSome Body"


def test_header_cells_that_label_no_value_keep_their_words():
    from functions.processing.formats.tables import Table

    table = Table(index=0, rows=[["A", "Merged B1-B3"], ["C", ""]], header=True)

    assert table.lines() == ["A; Merged B1-B3", "A: C"]


# -- PDF ---------------------------------------------------------------------------------------
def _marked(size: tuple[int, int]) -> Image.Image:
    """A white picture with a black block in its top-left corner: its orientation shows."""
    image = Image.new("L", size, 255)
    ImageDraw.Draw(image).rectangle((0, 0, size[0] // 4, size[1] // 4), fill=0)
    return image


def _dark_corner(png: bytes) -> str:
    image = Image.open(io.BytesIO(png)).convert("L")
    w, h = image.size
    corners = {"top-left": (w // 10, h // 10), "top-right": (w - w // 10, h // 10),
               "bottom-left": (w // 10, h - h // 10), "bottom-right": (w - w // 10, h - h // 10)}
    return min(corners, key=lambda name: image.getpixel(corners[name]))


def _pdf_of(image: Image.Image, path: Path, rotate: int = 0, content: bytes | None = None) -> None:
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import DecodedStreamObject, NameObject

    buffer = io.BytesIO()
    image.save(buffer, "PDF")
    writer = PdfWriter()
    page = writer.add_page(PdfReader(io.BytesIO(buffer.getvalue())).pages[0])
    if content is not None:
        stream = DecodedStreamObject()
        stream.set_data(content)
        page[NameObject("/Contents")] = writer._add_object(stream)
    if rotate:
        page.rotate(rotate)
    with path.open("wb") as out:
        writer.write(out)


def test_a_scanned_page_stored_sideways_with_rotate_90_is_ocrd_upright(tmp_path):
    from functions.processing.formats.pdf import extract_pdf

    upright = _marked((300, 100))
    stored = upright.rotate(90, expand=True)  # turned counter-clockwise: the page's /Rotate 90 undoes it
    path = tmp_path / "scan.pdf"
    _pdf_of(stored, path, rotate=90)

    [page] = extract_pdf(path).pages

    [png] = page.images
    assert Image.open(io.BytesIO(png)).size == (300, 100)
    assert _dark_corner(png) == "top-left"


def test_a_scanned_image_placed_turned_by_its_matrix_is_ocrd_upright(tmp_path):
    from functions.processing.formats.pdf import extract_pdf

    upright = _marked((300, 100))
    stored = upright.rotate(90, expand=True)  # 100 x 300
    path = tmp_path / "scan.pdf"
    # The image's x axis points down the page: it is shown turned a quarter clockwise.
    _pdf_of(stored, path, content=b"q 0 -100 300 0 0 300 cm /image Do Q")

    [page] = extract_pdf(path).pages

    [png] = page.images
    assert Image.open(io.BytesIO(png)).size == (300, 100)
    assert _dark_corner(png) == "top-left"


def _pdf_with_a_ruled_table(path: Path) -> None:
    """Words set apart by kerning only (no space characters), 2.4 pt at 8 pt: under pdfplumber's
    default 3-point tolerance, above 0.15 of the font size."""
    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

    def line(x: float, y: float, words: list[str]) -> bytes:
        spaced = " -300 ".join(f"({w})" for w in words)
        return f"BT /F1 8 Tf {x} {y} Td [{spaced}] TJ ET\n".encode()

    content = line(72, 740, ["Layouts", "of", "modern", "scientific", "documents", "above", "the", "table"])
    content += b"0.5 w 72 600 m 472 600 l S 72 630 m 472 630 l S 72 660 m 472 660 l S "
    content += b"72 600 m 72 660 l S 272 600 m 272 660 l S 472 600 m 472 660 l S\n"
    content += line(80, 640, ["Dataset", "name"]) + line(280, 640, ["Layout", "notes"])
    content += line(80, 610, ["Magazine", "scans"]) + line(280, 610, ["Layouts", "of", "scanned", "magazines"])
    writer = PdfWriter()
    page = writer.add_blank_page(612, 792)
    font = DictionaryObject({NameObject("/Type"): NameObject("/Font"), NameObject("/Subtype"): NameObject("/Type1"),
                             NameObject("/BaseFont"): NameObject("/Helvetica")})
    page[NameObject("/Resources")] = DictionaryObject({NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})})
    stream = DecodedStreamObject()
    stream.set_data(content)
    page[NameObject("/Contents")] = writer._add_object(stream)
    with path.open("wb") as out:
        writer.write(out)


def test_a_page_with_a_ruled_table_keeps_the_spaces_between_words(tmp_path):
    from functions.processing.formats.pdf import extract_pdf

    path = tmp_path / "table.pdf"
    _pdf_with_a_ruled_table(path)

    [page] = extract_pdf(path).pages

    assert "Layouts of modern scientific documents above the table" in page.text
    [table] = page.tables
    assert table.rows == [["Dataset name", "Layout notes"], ["Magazine scans", "Layouts of scanned magazines"]]
    assert "Layoutsof" not in page.text


# -- OCR reads the original picture ------------------------------------------------------------
def test_the_ocr_copy_is_lossless_at_the_original_resolution():
    from functions.processing.formats.image import MODEL_SIDE, extract_image

    original = Image.new("RGB", (3000, 400), "white")
    ImageDraw.Draw(original).text((10, 10), "small print: invoice 4711 due 2024-03-01", fill="black")
    buffer = io.BytesIO()
    original.save(buffer, "PNG")

    image = extract_image(buffer.getvalue())

    ocr = Image.open(io.BytesIO(image.ocr_png))
    assert ocr.format == "PNG" and ocr.size == (3000, 400)
    assert ocr.convert("RGB").tobytes() == original.tobytes()  # pixel for pixel
    assert max(Image.open(io.BytesIO(image.model_jpeg)).size) == MODEL_SIDE


# -- tables of HTML, RTF and Markdown as rows and cells ------------------------------------------
def test_html_tables_are_rows_of_cells_with_implied_end_tags_and_nested_tables():
    from functions.processing.formats import html

    page = html.extract(
        "<html><body><h1>Port</h1><p>Berths below.</p><table><caption>Berths</caption>"
        "<tr><th>Berth<th>Depth (m)<tr><td>North<td>12<tr><td colspan=2><b>South</b> quay"
        "<table><tr><td>crane</td><td>2</td></tr></table></td></tr></table><p>End.</p></body></html>")

    outer = next(t for t in page.tables if t.rows[0] == ["Berth", "Depth (m)"])
    nested = next(t for t in page.tables if t.rows == [["crane", "2"]])
    assert outer.header and outer.rows[1:] == [["North", "12"], ["South quay"]]
    assert nested.index != outer.index
    assert "Berth: North; Depth (m): 12" in page.text and "crane; 2" in page.text
    assert page.text.endswith("End.")


def test_html_image_alt_text_is_kept_where_the_image_stands():
    from functions.processing.formats import html

    page = html.extract('<p>Made by <img src="logo.png" alt="Harbour Works Logo"> since 1901</p>')

    assert page.text == "Made by Harbour Works Logo since 1901"


def test_rtf_tables_are_rows_of_cells(tmp_path):
    from functions.processing.formats.rtf import extract_rtf

    path = tmp_path / "t.rtf"
    path.write_text(
        r"{\rtf1\ansi\deff0 {\fonttbl {\f0 Times;}}\pard Fleet list:\par"
        r"\trowd\cellx2000\cellx4000\intbl Ship\cell Tonnage | gross\cell\row"
        r"\trowd\cellx2000\cellx4000\intbl Etoile\cell 1200\cell\row"
        r"\pard After the table.\par}", encoding="ascii")

    [page] = extract_rtf(path).pages

    [table] = page.tables
    assert table.rows == [["Ship", "Tonnage | gross"], ["Etoile", "1200"]] and table.header
    assert page.text.splitlines() == ["Fleet list:", "Ship: Etoile; Tonnage | gross: 1200", "After the table."]


def test_markdown_pipe_tables_are_rows_of_cells():
    from functions.processing.formats import markdown

    read = markdown.extract("# Tides\n\n| Port | High water |\n|:---|---:|\n| Brest | 06:12 |\n| Cork | 07:40 |\n\n"
                            "```\n| not | a table |\n|---|---|\n```\nDone.\n")

    [table] = read.tables
    assert table.rows == [["Port", "High water"], ["Brest", "06:12"], ["Cork", "07:40"]] and table.header
    assert "Port: Brest; High water: 06:12\nPort: Cork; High water: 07:40" in read.text
    assert "| not | a table |" in read.text  # inside a code fence: text
