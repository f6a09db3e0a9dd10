"""A tiny random-weight BERT sentence encoder, built offline from a config.

Tests and quick experiments need a text encoder that is real (a transformer with
attention, dropout, a WordPiece tokenizer, mean pooling: everything MiniLM has) but
small and download-free. :func:`build_tiny_bert` writes one as a local
sentence-transformers directory, which :class:`~contrastkit.models.text.TextEncoder`
(and ``encoder.kind: text`` with ``encoder.model_path``) loads like any other:

* the vocabulary is built from ``texts``: the special tokens, every character seen
  (as a word-initial piece ``c`` and a continuation ``##c``, so that *any* text over
  those characters tokenises without ``[UNK]``, whatever its script) and then the
  most frequent whole words, up to ``vocab_size``;
* the weights are ``transformers.BertModel(BertConfig(...))``'s initialisation under
  ``torch.manual_seed(seed)`` (the same directory for the same arguments).

Example:
    >>> path = build_tiny_bert(tmp / "tiny", ["a cat", "a dog"])  # doctest: +SKIP
    >>> TextEncoder(path).encode(["a cat"]).shape  # doctest: +SKIP
    torch.Size([1, 32])
"""

from __future__ import annotations

import json
import os
import unicodedata
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import torch

from contrastkit._validation import check_positive_int

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def _words(text: str) -> list[str]:
    """BERT's pre-tokenisation, approximately: lower-cased, accents kept, split on
    whitespace and around punctuation (used only to pick the whole-word entries)."""
    out: list[str] = []
    for raw in text.lower().split():
        word = ""
        for ch in raw:
            if unicodedata.category(ch).startswith("P"):
                if word:
                    out.append(word)
                out.append(ch)
                word = ""
            else:
                word += ch
        if word:
            out.append(word)
    return out


def build_vocab(texts: Iterable[str], vocab_size: int = 512) -> list[str]:
    """WordPiece vocabulary: specials, ``c`` and ``##c`` for every character of
    ``texts`` (lower-cased), then the most frequent words (ties by first sight)
    until ``vocab_size`` entries (the characters are always kept)."""
    check_positive_int("vocab_size", vocab_size)
    counts: Counter[str] = Counter()
    chars: dict[str, None] = {}
    for text in texts:
        if not isinstance(text, str):
            raise TypeError(f"texts must hold str, got {type(text).__name__}")
        for word in _words(text):
            counts[word] += 1
            chars.update(dict.fromkeys(word))
    vocab = list(SPECIAL_TOKENS)
    for ch in sorted(chars):
        vocab += [ch, f"##{ch}"]
    seen = set(vocab)
    for word, _ in counts.most_common():
        if len(vocab) >= vocab_size:
            break
        if word not in seen:
            vocab.append(word)
            seen.add(word)
    return vocab


def build_tiny_bert(
    path: str | os.PathLike[str],
    texts: Iterable[str],
    *,
    dim: int = 32,
    layers: int = 2,
    heads: int = 2,
    intermediate: int = 64,
    vocab_size: int = 512,
    max_seq_length: int = 64,
    dropout: float = 0.1,
    seed: int = 0,
) -> Path:
    """Write a random-weight BERT sentence encoder (mean pooling) to ``path`` and
    return it. ``dim`` must be divisible by ``heads``; ``dropout`` is the hidden and
    attention dropout (on in training mode, so gradient-caching tests replay it)."""
    for name, value in (
        ("dim", dim),
        ("layers", layers),
        ("heads", heads),
        ("intermediate", intermediate),
        ("max_seq_length", max_seq_length),
    ):
        check_positive_int(name, value)
    if dim % heads:
        raise ValueError(f"dim must be divisible by heads, got dim={dim}, heads={heads}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import (  # type: ignore[attr-defined]
        BertConfig,
        BertModel,
        BertTokenizerFast,
    )

    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    vocab = build_vocab(texts, vocab_size)
    ids = {token: i for i, token in enumerate(vocab)}
    # transformers 5's BertTokenizerFast(vocab_file=...) ignores the file: build the
    # fast tokenizer from its parts (BERT's normaliser, pre-tokeniser and template)
    core = Tokenizer(models.WordPiece(ids, unk_token="[UNK]"))
    core.normalizer = normalizers.BertNormalizer(lowercase=True, strip_accents=False)
    core.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    core.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", ids["[CLS]"]), ("[SEP]", ids["[SEP]"])],
    )
    tokenizer = BertTokenizerFast(
        tokenizer_object=core,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=max_seq_length,
    )
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=dim,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=intermediate,
        max_position_embeddings=max(max_seq_length, 8),
        hidden_dropout_prob=dropout,
        attention_probs_dropout_prob=dropout,
    )
    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        model = BertModel(config)
    finally:
        torch.random.set_rng_state(state)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    # the sentence-transformers layout: the transformer at the root, mean pooling after
    (out / "1_Pooling").mkdir(exist_ok=True)
    (out / "1_Pooling" / "config.json").write_text(
        json.dumps({"word_embedding_dimension": dim, "pooling_mode_mean_tokens": True})
    )
    (out / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": max_seq_length, "do_lower_case": False})
    )
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {
            "idx": 1,
            "name": "1",
            "path": "1_Pooling",
            "type": "sentence_transformers.models.Pooling",
        },
    ]
    (out / "modules.json").write_text(json.dumps(modules))
    return out
