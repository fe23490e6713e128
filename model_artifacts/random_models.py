"""Random-weight models with the production architectures, saved like hub checkpoints.

Tests and ``bench/models.py`` use them where real weights cannot be downloaded: each builder
writes a folder that ``code/inference.py``'s ``model_fn`` loads exactly as it would load the
real checkpoint (config + safetensors + tokenizer + processor). ``size="tiny"`` is for tests
(seconds); ``size="base"`` uses the production model's real dimensions where that is cheap
enough on CPU (CLIP ViT-B/32, Whisper tiny, MiniLM-sized BERT) and a reduced Florence-2.

Nothing here downloads anything; tokenizers are byte-level BPE / WordPiece trained on a few
sentences, so outputs are gibberish by design.
"""
from __future__ import annotations

from pathlib import Path

_CORPUS = [
    "a photo of a cat sitting on a red sofa",
    "a dog running on the green grass in the park",
    "the quick brown fox jumps over the lazy dog",
    "What does the image describe? Describe in detail what is shown in the image.",
    "What is the text in the image, with regions? Locate the objects with category name in the image.",
    "hello world this is a test of speech recognition",
]


def _bpe(specials: list[str], vocab_size: int = 600) -> tuple[dict[str, int], list[tuple[str, str]]]:
    import tempfile

    from tokenizers import ByteLevelBPETokenizer

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(_CORPUS * 5, vocab_size=vocab_size + len(specials), min_frequency=1, special_tokens=specials)
    with tempfile.TemporaryDirectory() as tmp:
        bpe.save_model(tmp)
        lines = (Path(tmp) / "merges.txt").read_text().splitlines()
    merges = [tuple(line.split(" ")) for line in lines if line and not line.startswith("#")]
    return bpe.get_vocab(), merges


def build_clip(out: str | Path, size: str = "tiny") -> Path:
    """CLIP (image + text towers, shared projection) with random weights."""
    from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel, CLIPProcessor, CLIPTokenizer

    out = Path(out)
    vocab, merges = _bpe(["<|startoftext|>", "<|endoftext|>"])
    tokenizer = CLIPTokenizer(vocab=vocab, merges=merges)
    if size == "tiny":
        text = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2)
        vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, image_size=32, patch_size=8)
        projection = 16
    else:  # openai/clip-vit-base-patch32 dimensions
        text = dict(hidden_size=512, intermediate_size=2048, num_hidden_layers=12, num_attention_heads=8)
        vision = dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12, image_size=224, patch_size=32)
        projection = 512
    text.update(vocab_size=len(tokenizer), max_position_embeddings=77,
                bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    config = CLIPConfig(text_config=text, vision_config=vision, projection_dim=projection)
    image_size = vision["image_size"]
    processor = CLIPProcessor(
        image_processor=CLIPImageProcessorPil(size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size}),
        tokenizer=tokenizer,
    )
    CLIPModel(config).save_pretrained(out)
    processor.save_pretrained(out)
    return out


def build_florence2(out: str | Path, size: str = "tiny") -> Path:
    """Florence-2 (DaViT vision encoder + BART) with random weights and the real task prompts."""
    from transformers import (
        BartConfig,
        BartTokenizer,
        CLIPImageProcessorPil,
        Florence2Config,
        Florence2ForConditionalGeneration,
        Florence2Processor,
        Florence2VisionConfig,
    )

    out = Path(out)
    locations = [f"<loc_{i}>" for i in range(1000)]
    vocab, merges = _bpe(["<s>", "<pad>", "</s>", "<unk>", "<mask>", "<image>"])
    tokenizer = BartTokenizer(vocab=vocab, merges=merges, extra_special_tokens={"image_token": "<image>"})
    tokenizer.add_tokens(locations)
    if size == "tiny":
        d_model, layers, heads, ffn = 32, 1, 2, 64
        vision = Florence2VisionConfig(depths=(1, 1, 1, 1), embed_dim=(8, 16, 32, 32), num_heads=(1, 2, 2, 2),
                                       num_groups=(1, 2, 2, 2), window_size=2, projection_dim=d_model)
        image_size, image_tokens = 64, 5
    else:  # Florence-2-base widths, fewer layers, 384 px input (base is 768 px, 6+6 layers)
        d_model, layers, heads, ffn = 768, 2, 12, 3072
        vision = Florence2VisionConfig(depths=(1, 1, 3, 1), embed_dim=(128, 256, 512, 1024), num_heads=(4, 8, 16, 32),
                                       num_groups=(4, 8, 16, 32), window_size=12, projection_dim=d_model)
        image_size, image_tokens = 384, 145
    text = BartConfig(
        vocab_size=len(tokenizer), d_model=d_model, encoder_layers=layers, decoder_layers=layers,
        encoder_attention_heads=heads, decoder_attention_heads=heads, encoder_ffn_dim=ffn, decoder_ffn_dim=ffn,
        max_position_embeddings=1024, pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, decoder_start_token_id=tokenizer.eos_token_id,
        forced_bos_token_id=tokenizer.bos_token_id,
    )
    config = Florence2Config(vision_config=vision, text_config=text, image_token_id=tokenizer.image_token_id)
    image_processor = CLIPImageProcessorPil(
        size={"height": image_size, "width": image_size}, crop_size={"height": image_size, "width": image_size},
        do_center_crop=False, image_seq_length=image_tokens,
    )
    processor = Florence2Processor(
        image_processor=image_processor, tokenizer=tokenizer,
        post_processor_config={"pure_text": {}, "ocr": {"AREA_THRESHOLD": 0.0}, "description_with_bboxes": {}},
    )
    Florence2ForConditionalGeneration(config).save_pretrained(out)
    processor.save_pretrained(out)
    return out


def build_whisper(out: str | Path, size: str = "tiny") -> Path:
    """Whisper with random weights, multilingual special tokens and timestamp tokens."""
    from transformers import (
        GenerationConfig,
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperProcessor,
        WhisperTokenizer,
    )

    out = Path(out)
    languages = ["en", "de", "fr"]
    specials = (["<|endoftext|>", "<|startoftranscript|>"] + [f"<|{lang}|>" for lang in languages]
                + ["<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>", "<|nospeech|>", "<|notimestamps|>"])
    vocab, merges = _bpe(specials[:1])
    tokenizer = WhisperTokenizer(vocab=vocab, merges=merges)
    tokenizer.add_special_tokens({"additional_special_tokens": specials[1:]})
    tokenizer.add_tokens([f"<|{i * 0.02:.2f}|>" for i in range(1501)])
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in specials}
    if size == "tiny":
        dims = dict(d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
                    decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64)
    else:  # openai/whisper-tiny dimensions
        dims = dict(d_model=384, encoder_layers=4, decoder_layers=4, encoder_attention_heads=6,
                    decoder_attention_heads=6, encoder_ffn_dim=1536, decoder_ffn_dim=1536)
    config = WhisperConfig(
        vocab_size=len(tokenizer), num_mel_bins=80, max_source_positions=1500, max_target_positions=448,
        pad_token_id=ids["<|endoftext|>"], bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|endoftext|>"],
        decoder_start_token_id=ids["<|startoftranscript|>"], **dims,
    )
    model = WhisperForConditionalGeneration(config)
    model.generation_config = GenerationConfig(
        decoder_start_token_id=ids["<|startoftranscript|>"], bos_token_id=ids["<|endoftext|>"],
        eos_token_id=ids["<|endoftext|>"], pad_token_id=ids["<|endoftext|>"], max_length=448,
        is_multilingual=True, lang_to_id={f"<|{lang}|>": ids[f"<|{lang}|>"] for lang in languages},
        task_to_id={"transcribe": ids["<|transcribe|>"], "translate": ids["<|translate|>"]},
        no_timestamps_token_id=ids["<|notimestamps|>"], prev_sot_token_id=ids["<|startofprev|>"],
        max_initial_timestamp_index=50, return_timestamps=False,
        alignment_heads=[[0, 0]], begin_suppress_tokens=[], suppress_tokens=[],
    )
    WhisperProcessor(feature_extractor=WhisperFeatureExtractor(feature_size=80), tokenizer=tokenizer).save_pretrained(out)
    model.save_pretrained(out)
    return out


def build_sentence_transformer(out: str | Path, size: str = "tiny") -> Path:
    """BERT + mean pooling + normalise (the all-MiniLM-L6-v2 module stack) with random weights."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer import modules as models
    from transformers import BertConfig, BertModel, BertTokenizer

    out = Path(out)
    words = sorted({w for line in _CORPUS for w in line.lower().replace("?", " ").replace(",", " ").replace(".", " ").split()})
    vocab_file = out / "_vocab.txt"
    out.mkdir(parents=True, exist_ok=True)
    vocab_file.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + words) + "\n")
    raw = out / "_raw"
    tokenizer = BertTokenizer(vocab=str(vocab_file))
    if size == "tiny":
        dims = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)
    else:  # all-MiniLM-L6-v2 dimensions
        dims = dict(hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536)
    BertModel(BertConfig(vocab_size=len(tokenizer), max_position_embeddings=256, **dims)).save_pretrained(raw)
    tokenizer.save_pretrained(raw)
    transformer = models.Transformer(str(raw), max_seq_length=128)
    pooling = models.Pooling(transformer.get_embedding_dimension(), pooling_mode="mean")
    SentenceTransformer(modules=[transformer, pooling, models.Normalize()], device="cpu").save(str(out))
    vocab_file.unlink()
    import shutil

    shutil.rmtree(raw)
    return out


BUILDERS = {
    "image_embedding": build_clip,
    "generation": build_florence2,
    "speech": build_whisper,
    "text_embedding": build_sentence_transformer,
}
