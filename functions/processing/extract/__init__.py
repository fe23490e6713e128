"""One `extract(job)` per modality, behind one interface (job.py: ExtractJob).

Each fills the job's manifest with chunks, metadata and artefacts from `job.source`; documents
go to the paged, sheet or message extractor their format's registry row names.
"""
from __future__ import annotations

from collections.abc import Callable

from functions.processing.extract import audio, document, image, sheets, text, video
from functions.processing.extract.job import ExtractJob
from functions.processing.formats import registry


def _document(job: ExtractJob) -> None:
    if registry.BY_NAME[job.manifest.detected_format].shape == registry.SHEETS:
        sheets.extract(job)
    else:
        document.extract(job)


EXTRACTORS: dict[str, Callable[[ExtractJob], None]] = {
    "image": image.extract,
    "video": video.extract,
    "audio": audio.extract,
    "text": text.extract,
    "document": _document,
}


def extract(job: ExtractJob) -> None:
    """Extract `job.source` as its modality says. Raises InvalidObjectError for bad input."""
    EXTRACTORS[job.manifest.modality](job)
