"""The search tests' corpus: what is stored, and the names the tests look for."""
from __future__ import annotations

import base64
import io
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Optional

BUCKET = "test-ingest-bucket"
OTHER_BUCKET = "another-tenant-bucket"
OLD = datetime(2020, 1, 1, tzinfo=UTC)
CODE = "XK-4471"
NEAR_CODES = ("XK-4417", "XK-4741", "KX-4471", "XK-7441", "XK-1447")


@dataclass
class Chunk:
    text: Optional[str]
    kind: str = "text"
    page: Optional[int] = None
    time_start: Optional[float] = None
    time_end: Optional[float] = None
    image_rgb: Optional[tuple[int, int, int]] = None  # embedded by CLIP when set


@dataclass
class Obj:
    key: str
    modality: str
    chunks: list[Chunk]
    bucket: str = BUCKET
    pipeline_version: str = "v1"
    created_at: Optional[datetime] = None
    ids: list[int] = field(default_factory=list)


def corpus() -> list[Obj]:
    manual = [Chunk(f"Chapter {n}: maintenance of the pump number {n}. Check the seals, the valves and the "
                    f"pressure gauge of pump {n} every month.", kind="page_text", page=n) for n in range(1, 41)]
    parts = [Obj(f"parts/{code.lower()}.txt", "text",
                 [Chunk(f"Replacement part {code} fits the older valve housings; order it from the central depot.")])
             for code in (CODE, *NEAR_CODES)]
    return [
        Obj("manuals/pump-manual.pdf", "document", manual),
        Obj("notes/cartographer.txt", "text",
            [Chunk("The cartographer drew a detailed map of the northern coastline, its bays and harbours.")]),
        Obj("notes/bakery.txt", "text", [Chunk("Fresh bread and croissants are baked every morning at six.")]),
        *parts,
        Obj("audio/briefing.wav", "audio", [
            Chunk("Good morning, here is the weather for today.", "audio_segment", time_start=0.0, time_end=10.0),
            Chunk("Heavy rain and strong wind are expected along the coast tonight.", "audio_segment",
                  time_start=10.0, time_end=20.0),
            Chunk("Traffic on the ring road is slow because of roadworks.", "audio_segment", time_start=20.0, time_end=30.0),
        ]),
        Obj("archive/weather-2020.txt", "text", [Chunk("Heavy rain and strong wind hit the coast in the storm of 2020.")],
            created_at=OLD),
        Obj("notes/cartographer.txt", "text",
            [Chunk("Draft: the cartographer sketched the coastline.")], pipeline_version="v0"),
        Obj("secret/cartographer-salary.txt", "text",
            [Chunk("The cartographer's salary is confidential.")], bucket=OTHER_BUCKET),
        Obj("images/red.png", "image", [Chunk(None, "image", image_rgb=(220, 20, 20))]),
        Obj("images/blue.png", "image", [Chunk(None, "image", image_rgb=(20, 20, 220))]),
        Obj("video/harbour.mp4", "video", [
            Chunk("Boats leave the harbour at dawn.", "video_segment", time_start=0.0, time_end=10.0, image_rgb=(30, 90, 200)),
            Chunk("Fishermen unload the catch on the quay.", "video_segment", time_start=10.0, time_end=20.0,
                  image_rgb=(200, 180, 40)),
        ]),
    ]


def png(rgb: tuple[int, int, int]) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), rgb).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


