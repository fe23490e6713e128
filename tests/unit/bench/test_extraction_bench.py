"""bench/extraction.py in a tiny mode: seven files the test builds (each a case issue 26 found
lost), a reference JSON as bench/extraction_reference.py writes it, no OCR endpoint."""
from __future__ import annotations

import json
from pathlib import Path


def _corpus(folder: Path) -> dict[str, str]:
    """Write the files; return {relative path: the words a faithful extraction holds}."""
    import docx

    folder.mkdir()
    texts = {}
    shipping = "For free shipping on orders above 50 euros, read the terms.\n"
    (folder / "shipping.txt").write_text(shipping, encoding="ascii")
    texts["shipping.txt"] = shipping
    wide = "Grüße aus Köln, the ferry leaves at noon.\n"
    (folder / "wide.txt").write_bytes(wide.encode("utf-16-le"))
    texts["wide.txt"] = wide
    (folder / "tides.md").write_text("# Tides\n\n| Port | High water |\n|---|---|\n| Brest | 06:12 |\n", encoding="utf-8")
    (folder / "port.html").write_text("<html><body><table><tr><th>Berth</th><th>Depth</th></tr>"
                                      "<tr><td>North</td><td>12</td></tr></table></body></html>", encoding="utf-8")
    (folder / "fleet.rtf").write_text(r"{\rtf1\ansi Fleet:\par\trowd\cellx2000\cellx4000\intbl Ship\cell Tons\cell\row"
                                      r"\trowd\cellx2000\cellx4000\intbl Etoile\cell 1200\cell\row}", encoding="ascii")
    (folder / "stock.csv").write_text("item,count\nrope,12\n", encoding="utf-8")
    document = docx.Document()
    document.sections[0].header.paragraphs[0].text = "Harbour header"
    outer = document.add_table(rows=1, cols=2)
    outer.cell(0, 0).text = "Berth"
    outer.cell(0, 1).add_table(rows=1, cols=2).cell(0, 0).text = "crane"
    document.save(str(folder / "report.docx"))
    texts["report.docx"] = "Harbour header Berth crane"
    return texts


def test_the_bench_compares_each_file_and_format_with_the_reference(run_bench, bench_table, tmp_path):
    folder = tmp_path / "corpus"
    texts = _corpus(folder)
    reference = {name: {"text": text, "tables": 0, "strategy": "auto"} for name, text in texts.items()}
    (tmp_path / "ref.json").write_text(json.dumps(reference))
    out = tmp_path / "out.json"

    done = run_bench("bench/extraction.py", str(folder), "--reference", str(tmp_path / "ref.json"),
                     "--out", str(out), timeout=300)

    files = {row["file"]: row for row in bench_table(done.stdout, "| file |")}
    assert set(files) == {"shipping.txt", "wide.txt", "tides.md", "port.html", "fleet.rtf", "stock.csv", "report.docx"}
    assert all(row["status"] == "ok" for row in files.values()), files
    for name in texts:  # every word of the reference found
        assert files[name]["recall vs reference"] == "100 %", files[name]
    assert files["wide.txt"]["recall vs raw"] == "100 %"
    tables = {name: int(row["tables"]) for name, row in files.items()}
    assert tables == {"shipping.txt": 0, "wide.txt": 0, "tides.md": 1, "port.html": 1, "fleet.rtf": 1,
                      "stock.csv": 1, "report.docx": 2}
    formats = {row["format"]: row for row in bench_table(done.stdout, "| format |")}
    assert formats[".txt"]["files"] == "2" and formats[".txt"]["crashed"] == "0"
    assert "crashed: 0" in done.stdout
    saved = json.loads(out.read_text())
    assert {row["file"] for row in saved["files"]} == set(files) and saved["formats"]
