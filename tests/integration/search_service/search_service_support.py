"""What the search service tests share: the corpus they store, the files its "run" uploaded,
an HTTP helper and a parse of the DOM Chromium dumps (the standard library's HTMLParser)."""
from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Optional

from functions.common.constants import DB_SCHEMA

REPO_ROOT = Path(__file__).resolve().parents[3]
S = DB_SCHEMA
BUCKET = "test-ingest-bucket"
OTHER_BUCKET = "another-tenant-bucket"
CODE = "XK-4471"


@dataclass
class Chunk:
    text: Optional[str]
    kind: str = "text"
    page: Optional[int] = None
    time_start: Optional[float] = None
    time_end: Optional[float] = None


@dataclass
class Obj:
    key: str
    modality: str
    chunks: list[Chunk]
    bucket: str = BUCKET
    size: Optional[int] = None  # None: the size of the source file of the same key (images)


def png(rgb: tuple[int, int, int], size: tuple[int, int] = (640, 480)) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", size, rgb).save(buffer, format="PNG")
    return buffer.getvalue()


# The files the "run" uploaded: what /thumbnail reads.
SOURCE_FILES = {
    "images/red-boat.png": png((200, 30, 30)),
    "images/changed.png": png((30, 200, 30)),
}


def corpus() -> list[Obj]:
    manual = [Chunk(f"Chapter {n}: maintenance of the pump. Check the seals, the valves and the pressure gauge "
                    f"of pump {n} every month.", kind="page_text", page=n) for n in range(1, 6)]
    return [
        Obj("manuals/pump-manual.pdf", "document", manual),
        Obj("notes/cartographer.txt", "text",
            [Chunk("The cartographer drew a detailed map of the northern coastline, its bays and harbours.")]),
        Obj("notes/bakery.txt", "text", [Chunk("Fresh bread and croissants are baked every morning at six.")]),
        Obj(f"parts/{CODE.lower()}.txt", "text",
            [Chunk(f"Replacement part {CODE} fits the older valve housings; order it from the central depot.")]),
        Obj("audio/briefing.wav", "audio", [
            Chunk("Good morning, here is the weather for today.", "audio_segment", time_start=0.0, time_end=10.0),
            Chunk("Heavy rain and strong wind are expected along the coast tonight.", "audio_segment",
                  time_start=10.0, time_end=20.0),
            Chunk("Traffic on the ring road is slow because of roadworks.", "audio_segment", time_start=20.0, time_end=30.0),
        ]),
        # an image found by the text in it (OCR): its thumbnail comes from the source folder
        Obj("images/red-boat.png", "image", [Chunk("A red fishing boat moored in the harbour at dawn", "image")]),
        # an image whose file changed since it was stored: no thumbnail
        Obj("images/changed.png", "image", [Chunk("A green tractor ploughing a field", "image")], size=1),
        # a bucket the service may not answer from (SEARCH_BUCKETS), however well it matches
        Obj("secret/pump-seals.txt", "text", [Chunk("Maintenance of the pump: check the seals and the valves.")],
            bucket=OTHER_BUCKET),
    ]


def post(url: str, body: Any, raw: Optional[bytes] = None) -> tuple[int, dict[str, str], Any]:
    """POST JSON to `url`; (status, headers, parsed JSON body)."""
    import urllib.error
    import urllib.request

    data = raw if raw is not None else json.dumps(body).encode("utf-8")
    request = urllib.request.Request(url, data=data, method="POST", headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, dict(response.headers.items()), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers.items()), json.loads(exc.read())


# --- a real browser -----------------------------------------------------------------------------
@dataclass
class Node:
    """An element of the DOM Chromium dumped: tag, attributes, children; `text` is all text inside."""

    tag: str
    attrs: dict[str, str]
    children: list[Any] = field(default_factory=list)  # Node or str

    @property
    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text for c in self.children)

    def find_all(self, tag: Optional[str] = None, cls: Optional[str] = None, **attrs: str) -> list[Node]:
        found = []
        for child in self.children:
            if isinstance(child, Node):
                if ((tag is None or child.tag == tag) and (cls is None or cls in child.attrs.get("class", "").split())
                        and all(child.attrs.get(k.replace("_", "-")) == v for k, v in attrs.items())):
                    found.append(child)
                found.extend(child.find_all(tag, cls, **attrs))
        return found

    def find(self, tag: Optional[str] = None, cls: Optional[str] = None, **attrs: str) -> Optional[Node]:
        found = self.find_all(tag, cls, **attrs)
        return found[0] if found else None


_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, Optional[str]]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in _VOID:
            self.stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse_html(html: str) -> Node:
    builder = _TreeBuilder()
    builder.feed(html)
    builder.close()
    return builder.root


