"""Chunks and their vectors in pages: a large object's chunks never sit in one document.

The extract manifest holds the first CHUNK_PAGE_ITEMS chunks itself (every chunk of almost
every object); further chunks go to `chunks/<n>.json` beside it in the object's staging area,
page n (1-based) holding CHUNK_PAGE_ITEMS chunks in ordinal order. embed writes the vectors of
chunk page n to `embeddings/<n>.json`; store reads both a page at a time. A 100 MB text
(some 150,000 chunks) thus never needs more than one page of chunks and one of vectors in
memory after extract, and no staged document grows past a few megabytes. Keys depend only on
the page number: a re-run overwrites its own pages.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from functions.common.errors import InvalidObjectError
from functions.common.staging import Staging
from functions.processing.staging.manifest import Chunk, Embedding, EmbedManifest, ExtractManifest, Page

# 2,000 chunks of 254 tokens are about 2.5 MB of JSON; their 384-dimensional vectors about 15 MB.
CHUNK_PAGE_ITEMS = 2000


class ChunkWriter:
    """Numbers an object's chunks and pages them out to staging as they come.

    Use as a context manager: the last page is written on a clean exit only. Raises
    InvalidObjectError from `add` beyond `max_chunks` (the MAX_CHUNKS setting).
    """

    def __init__(self, staging: Staging, manifest: ExtractManifest, max_chunks: int,
                 page_items: int = CHUNK_PAGE_ITEMS) -> None:
        if manifest.chunks or manifest.chunk_pages:
            raise ValueError("the manifest already has chunks")
        self._staging, self._manifest = staging, manifest
        self._max, self._page_items = max_chunks, page_items
        self._page: list[Chunk] = manifest.chunks
        self.count = 0

    def add(self, kind: str, **fields: Any) -> Chunk:
        if self.count >= self._max:
            raise InvalidObjectError(
                f"the object yields more than {self._max} chunks (the MAX_CHUNKS setting, max_chunks in cdk.json)")
        if len(self._page) >= self._page_items:
            self._flush()
        chunk = Chunk(ordinal=self.count, kind=kind, **fields)
        self._page.append(chunk)
        self.count += 1
        return chunk

    def _flush(self) -> None:
        if self._page is not self._manifest.chunks and self._page:
            number = len(self._manifest.chunk_pages) + 1
            pointer = self._staging.put_json(f"chunks/{number:05d}.json", [c.model_dump(mode="json") for c in self._page])
            self._manifest.chunk_pages.append(
                Page(key=pointer.key, number=number, first_ordinal=self._page[0].ordinal, count=len(self._page)))
        self._page = []

    def __enter__(self) -> ChunkWriter:
        return self

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        if exc_type is None:
            self._flush()


def chunk_pages(staging: Staging, extract: ExtractManifest) -> Iterator[tuple[int, list[Chunk]]]:
    """(page number, chunks) for page 0 (the manifest's own) and each staged page, in order."""
    yield 0, extract.chunks
    for page in extract.chunk_pages:
        yield page.number, [Chunk.model_validate(c) for c in _read(staging, page)]


def put_embeddings(staging: Staging, manifest: EmbedManifest, number: int, embeddings: list[Embedding]) -> None:
    """The vectors of chunk page `number`: page 0's in the manifest, the others in staging."""
    if number == 0:
        manifest.embeddings = embeddings
        return
    pointer = staging.put_json(f"embeddings/{number:05d}.json", [e.model_dump(mode="json") for e in embeddings])
    first = embeddings[0].chunk_ordinal if embeddings else 0
    manifest.embedding_pages.append(Page(key=pointer.key, number=number, first_ordinal=first, count=len(embeddings)))


def embedding_pages(staging: Staging, embed: EmbedManifest) -> Iterator[tuple[int, list[Embedding]]]:
    """(chunk page number, its vectors), page 0 first."""
    yield 0, embed.embeddings
    for page in embed.embedding_pages:
        yield page.number, [Embedding.model_validate(e) for e in _read(staging, page)]


def _read(staging: Staging, page: Page) -> list[Any]:
    value = staging.get_json(page.key.removeprefix(staging.prefix + "/"))
    if not isinstance(value, list) or len(value) != page.count:
        raise ValueError(f"staged page {page.key} does not hold the {page.count} items its manifest names")
    return value
