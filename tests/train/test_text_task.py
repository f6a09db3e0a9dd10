"""The pairs task over texts (encoder.kind text) on a tiny random BERT and small data."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import pytest
import torch

pytest.importorskip("sentence_transformers")

from contrastkit.data.text_pairs import TextExamples, text_pairs_from_strings
from contrastkit.objectives.entries_contrastive import (
    hard_negative_false_negatives,
    in_batch_false_negatives,
)
from contrastkit.train.config import load_config
from contrastkit.train.negative_count import warn_curriculum_negatives
from contrastkit.train.run import train
from contrastkit.train.schedules import RunSchedules
from contrastkit.train.task_base import SampleContext
from contrastkit.train.text_task import TextPairTask
from contrastkit.train.trainer import Trainer
from contrastkit.typed_config import ConfigError
from tests.text_tiny import (
    ARABIC,
    compositional_pairs,
    text_file_config,
    write_jsonl,
)

_config = text_file_config


def _evals(run_dir: Path) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r.get("kind") == "eval"]


def test_fine_tuning_retrieves_held_out_combinations(
    model_dir: Path, pairs_file: Path, tmp_path: Path
) -> None:
    # anchors share no token with their positives: chance before training, and only
    # the token correspondences learned on training pairs retrieve the held-out ones
    config = _config(
        model_dir,
        pairs_file,
        tmp_path / "run",
        "loop.epochs=25",
        "eval.every_epochs=25",
        "eval.at_start=true",
        "pairs.num_negatives=1",
    )
    train(config)
    before, after = _evals(tmp_path / "run")
    assert before["step"] == 0
    assert before["test/mrr"] < 0.35, before
    assert after["test/mrr"] > before["test/mrr"] + 0.3, (before, after)
    assert after["test/num_queries"] == 16
    # one difficulty file per re-mining round (refresh_every 1: one per epoch)
    rounds = sorted((tmp_path / "run" / "snapshots").glob("difficulty_round_*.npy"))
    assert len(rounds) == 25


def _task(model_dir: Path, examples: TextExamples, tmp_path: Path, structural=None, *extra: str):
    path = write_jsonl(tmp_path / "unused.jsonl", [{"anchor": "a", "positive": "b"}])
    config = _config(model_dir, path, tmp_path / "run", *extra)
    trainer = Trainer(config)  # builds the encoder over the file's texts; swap the task
    task = TextPairTask(config, torch.Generator().manual_seed(0), examples, structural)
    from contrastkit.train.encoders import build_encoder

    encoder = build_encoder(config.encoder, task.encoder_inputs(), torch.Generator())
    ctx = SampleContext(0, 0, 0.05, encoder, trainer.distance)
    return task, ctx


def _two_banks() -> TextExamples:
    """ "bank" twice (two synsets, groups 0 and 1; one id per (synset, role)), each
    with its own definition, and the unrelated pair "kaz bri" -> "mab yam"."""
    return TextExamples(
        texts=["bank", "a slope", "bank", "an institution", "kaz bri", "mab yam"],
        anchor=torch.tensor([0, 2, 4]),
        positive=torch.tensor([1, 3, 5]),
        negatives=torch.empty(3, 0, dtype=torch.int64),
        groups=torch.tensor([0, 0, 1, 1, 2, 2]),
        split=torch.tensor([0, 0, 0], dtype=torch.int8),
    )


def test_duplicate_texts_share_a_row_and_are_never_negatives(
    model_dir: Path, tmp_path: Path
) -> None:
    # WordNet keeps one id per (synset, role): "bank" twice; files may repeat a text
    ex = _two_banks()
    task, ctx = _task(model_dir, ex, tmp_path)
    batch = task.batch(torch.arange(3), ctx)
    assert batch.items.tolist() == [0, 1, 3, 4, 5]  # the second "bank" is the first's row
    assert batch.anchor[0] == batch.anchor[1]
    # a positive equal to another example's anchor text is masked for that anchor
    ex2 = text_pairs_from_strings(["x", "y", "z"], ["y", "w", "v"], split=[0, 0, 0])
    task2, ctx2 = _task(model_dir, ex2, tmp_path)
    b2 = task2.batch(torch.arange(3), ctx2)
    fn = in_batch_false_negatives(b2)
    assert bool(fn[1, 0])  # anchor "y" never takes the key "y" (example 0's positive)
    assert not bool(fn[2, 0]) and not bool(fn[0, 1])


def test_a_text_of_two_groups_is_never_a_negative_for_either(
    model_dir: Path, tmp_path: Path
) -> None:
    # "bank" names two synsets (groups 0 and 1): both definitions are its positives,
    # so neither may be its negative — in the batch or in mining — under either id
    ex = _two_banks()
    task, ctx = _task(model_dir, ex, tmp_path, None, "pairs.num_negatives=1")
    assert task.memberships.num_shared == 1
    batch = task.batch(torch.arange(3), ctx)
    row = {int(t): i for i, t in enumerate(batch.items)}
    fn = batch.false_negatives
    assert fn is not None
    assert bool(fn[row[0], row[1]]) and bool(fn[row[0], row[3]])  # both synsets' glosses
    assert not bool(fn[row[4], row[1]]) and not bool(fn[row[0], row[5]])
    mnr_mask = in_batch_false_negatives(batch)
    assert bool(mnr_mask[0, 1]) and bool(mnr_mask[1, 0])  # the other gloss, both ways
    # the only admissible mined negative of "bank" is the unrelated gloss
    u, v = task.anchor[:2], task.positive[:2]
    negatives, mask = task.mined_negatives(u, v, ctx)
    assert bool(mask.all()) and negatives.tolist() == [[5], [5]]
    # the same through a file: one anchor string in two groups
    ex2 = text_pairs_from_strings(
        ["bank", "bank", "kaz bri"],
        ["a slope", "an institution", "mab yam"],
        groups=["slope", "institution", "other"],
        split=[0, 0, 0],
    )
    task2, ctx2 = _task(model_dir, ex2, tmp_path, None, "pairs.num_negatives=1")
    negatives2, _ = task2.mined_negatives(task2.anchor[:2], task2.positive[:2], ctx2)
    assert [ex2.texts[i] for i in negatives2.reshape(-1).tolist()] == ["mab yam", "mab yam"]


def test_mining_respects_groups_structure_anchor_and_positive(
    model_dir: Path, tmp_path: Path
) -> None:
    rows = compositional_pairs()
    groups = [r["anchor"].split()[0] for r in rows]  # one group per first token
    ex = text_pairs_from_strings(
        [r["anchor"] for r in rows],
        [r["positive"] for r in rows],
        groups=groups,
        split=[0] * len(rows),
    )

    class Banned:  # bans every pool text whose second token is D[0] (a fake structure)
        def __init__(self, texts: list[str]) -> None:
            self.flag = torch.tensor([t.endswith("yam") for t in texts])

        def banned_pairs(self, anchor_ids, pool_ids):
            rows_, cols = torch.nonzero(
                self.flag[pool_ids].expand(len(anchor_ids), -1), as_tuple=True
            )
            return rows_, cols

        def forbidden(self, a, c):
            return self.flag[c].expand(len(a), -1).clone()

    structural = Banned(ex.texts)
    task, ctx = _task(model_dir, ex, tmp_path, structural, "pairs.num_negatives=5")
    idx = torch.arange(len(rows))
    u, v = task.anchor[idx], task.positive[idx]
    negatives, mask = task.mined_negatives(u, v, ctx)
    assert bool(mask.all())
    g = ex.groups
    assert not bool((g[negatives] == g[u].unsqueeze(1)).any())
    assert not bool((negatives == v.unsqueeze(1)).any())
    assert not bool(structural.flag[negatives].any())
    batch = task.batch(idx[:16], ctx)
    assert batch.false_negatives is not None
    bad = hard_negative_false_negatives(batch)
    assert bad.shape == (16, 16 * 5)


def test_pool_is_re_embedded_every_refresh_every_epochs(model_dir: Path, tmp_path: Path) -> None:
    rows = compositional_pairs()
    ex = text_pairs_from_strings([r["anchor"] for r in rows], [r["positive"] for r in rows])
    task, ctx = _task(
        model_dir, ex, tmp_path, None, "pairs.num_negatives=1", "pairs.refresh_every=2"
    )
    first = task.mining_pool(ctx)
    with torch.no_grad():  # the model moves: a re-embedded pool differs
        for p in ctx.encoder.parameters():
            p.add_(0.05 * torch.randn_like(p))
    ctx.epoch = 1
    assert task.mining_pool(ctx) is first  # not a refresh epoch
    ctx.epoch = 2
    again = task.mining_pool(ctx)
    assert again is not first and not torch.allclose(again, first)


def test_matryoshka_widths_are_evaluated(model_dir: Path, pairs_file: Path, tmp_path: Path) -> None:
    config = _config(
        model_dir, pairs_file, tmp_path / "run", "loop.epochs=1", "matryoshka.dims=[32,16,8]"
    )
    trainer = Trainer(config)
    metrics = trainer.evaluate()
    assert {"test/mrr", "test/dim16/mrr", "test/dim8/ndcg@5"} <= set(metrics)
    assert "test/dim32/mrr" not in metrics  # the full width is reported unprefixed
    z = trainer.encoder.embed_all()
    assert z.shape[1] == 32


def test_arabic_script_texts_train(model_dir: Path, tmp_path: Path) -> None:
    rows = [
        {"anchor": ARABIC[0], "positive": ARABIC[1], "split": "train"},
        {"anchor": ARABIC[2], "positive": ARABIC[3], "split": "train"},
        {"anchor": ARABIC[1], "positive": ARABIC[0], "split": "train"},
        {"anchor": ARABIC[3], "positive": ARABIC[2], "split": "train"},
        {"anchor": "قطة تنام", "positive": "شجرة عالية", "split": "test"},
    ]
    path = write_jsonl(tmp_path / "ar.jsonl", rows)
    config = _config(model_dir, path, tmp_path / "run", "loop.epochs=2", "loop.batch_size=2")
    trainer = Trainer(config)
    ids = trainer.encoder.text.tokenize(ARABIC)["input_ids"]
    assert not bool((ids == 1).any())  # [UNK] is id 1: the model's tokenizer knows the script
    trainer.fit()
    assert trainer.step == 4


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        (["encoder.kind=text"], "encoder.kind"),  # digits are not texts
        (["pairs.source=text_file", "pairs.path=x.jsonl"], "encoder.kind"),  # needs text
        (["pairs.source=text_file"], "pairs.path"),
        (["encoder.model_path=/x"], "encoder.model_path"),
        (["matryoshka.dims=[8,4]", "matryoshka.weights=[1]"], "matryoshka.weights"),
        (["matryoshka.dims=[8,8]"], "matryoshka.dims"),
        (["loop.grad_cache_chunk_size=-1"], "loop.grad_cache_chunk_size"),
        (
            ["loop.grad_cache_chunk_size=4", "loop.grad_cache_chunks=2"],
            "loop.grad_cache_chunk_size",
        ),
        (["pairs.validation_fraction=0.9"], "pairs.validation_fraction"),
        (["pairs.wordnet_kinds=[verbs]"], "pairs.wordnet_kinds"),
        (["pairs.mine_range_min=2"], "pairs.mine_range_min"),  # digits: not a text source
        (["pairs.mine_absolute_margin=-0.1"], "pairs.mine_absolute_margin"),
    ],
)
def test_config_errors_name_the_key(overrides: list[str], key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(None, ["task.kind=pairs", *overrides])


def test_wordnet_source_masks_structural_neighbours(model_dir: Path, tmp_path: Path) -> None:
    from tests.wordnet_slice import wordnet_text_settings, write_wordnet_slice

    root = write_wordnet_slice(tmp_path / "wn")
    config = load_config(
        None,
        [
            *wordnet_text_settings(root),
            f"encoder.model_path={model_dir}",
            "pairs.num_negatives=2",
            "pairs.test_fraction=0.3",
            "loop.batch_size=8",
            "loop.progress=false",
            f"output.run_dir={tmp_path / 'run'}",
            "pairs.eval_ks=[1,3]",
        ],
    )
    trainer = Trainer(config)
    task = trainer.task
    assert isinstance(task, TextPairTask) and task.structural is not None
    batch = task.batch(torch.arange(min(8, task.num_examples())), trainer.sample_context())
    expected = task.structural.forbidden(batch.items, batch.items)
    assert batch.false_negatives is not None and torch.equal(batch.false_negatives, expected)
    # mined negatives are never within 2 hops of (or the synset of) their anchor
    anchors = batch.items[batch.anchor]
    negs = batch.items[batch.negatives]
    related = task.structural.forbidden(anchors, negs.reshape(-1)).view(
        len(anchors), len(anchors), -1
    )
    own = related[torch.arange(len(anchors)), torch.arange(len(anchors))]
    assert not bool(own[batch.mask].any())
    metrics = trainer.evaluate()
    queries, corpus, _ = task.eval_sets()
    assert metrics["test/num_queries"] == queries.numel() > 0
    # queries are lemma names, the corpus definitions
    assert all(task.texts[int(c)] not in {task.texts[int(q)] for q in queries} for c in corpus)


def test_curriculum_count_and_difficulty_cap_apply(model_dir: Path, tmp_path: Path) -> None:
    rows = compositional_pairs()
    ex = text_pairs_from_strings([r["anchor"] for r in rows], [r["positive"] for r in rows])
    task, ctx = _task(model_dir, ex, tmp_path, None, "pairs.num_negatives=1")
    u, v = task.anchor[:8], task.positive[:8]
    ctx.num_negatives = 3  # a curriculum stage's count replaces pairs.num_negatives
    negatives, mask = task.mined_negatives(u, v, ctx)
    assert negatives.shape == (8, 3) and bool(mask.all())
    ctx.max_difficulty = -10.0  # a cap below every difficulty masks every negative
    negatives, mask = task.mined_negatives(u, v, ctx)
    assert not bool(mask.any()) and torch.equal(negatives, v.unsqueeze(1).expand(-1, 3))


def test_eval_distractors_set_the_corpus(model_dir: Path, pairs_file: Path, tmp_path: Path) -> None:
    small = Trainer(_config(model_dir, pairs_file, tmp_path / "a", "pairs.eval_distractors=5"))
    large = Trainer(_config(model_dir, pairs_file, tmp_path / "b", "pairs.eval_distractors=40"))
    assert small.task.eval_sets()[1].numel() == 16 + 5
    assert large.task.eval_sets()[1].numel() == 16 + 40


def test_mining_filters_rank_window_and_max_score(model_dir: Path, tmp_path: Path) -> None:
    rows = compositional_pairs()
    ex = text_pairs_from_strings([r["anchor"] for r in rows], [r["positive"] for r in rows])
    task, ctx = _task(model_dir, ex, tmp_path, None, "pairs.num_negatives=2")
    u, v = task.anchor[:8], task.positive[:8]
    hardest, _ = task.mined_negatives(u, v, ctx)
    window, _ = _task(
        model_dir, ex, tmp_path, None, "pairs.num_negatives=2", "pairs.mine_range_min=2"
    )
    skipped, mask = window.mined_negatives(u, v, ctx)
    assert bool(mask.all())
    four, _ = _task(model_dir, ex, tmp_path, None, "pairs.num_negatives=4")
    top4, _ = four.mined_negatives(u, v, ctx)
    assert torch.equal(skipped, top4[:, 2:])  # ranks 2..3 of the hardest
    assert torch.equal(hardest, top4[:, :2])
    none, _ = _task(
        model_dir, ex, tmp_path, None, "pairs.num_negatives=2", "pairs.mine_max_score=-1.5"
    )
    assert not bool(none.mined_negatives(u, v, ctx)[1].any())  # cosine never <= -1.5


def test_text_encoder_trains_only_what_its_forward_reads(model_dir: Path) -> None:
    """BERT's pooler (never read by sentence-transformers' pooling) is frozen, and every
    parameter left trainable receives a gradient: DDP needs no unused-parameter search."""
    from contrastkit.models.text import TextEncoder
    from contrastkit.train.text_encoder import TextItemEncoder

    encoder = TextItemEncoder(TextEncoder(model_dir), [r["anchor"] for r in compositional_pairs()])
    frozen = {n for n, p in encoder.named_parameters() if not p.requires_grad}
    assert frozen and all(".pooler." in n for n in frozen)
    encoder(torch.arange(8)).sum().backward()
    missing = [n for n, p in encoder.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, missing


def test_more_text_negatives_than_candidates_warns_with_both_numbers(
    model_dir: Path, tmp_path: Path
) -> None:
    # "bank" (groups 0 and 1) can mine only "mab yam"; "kaz bri" two texts: 1 is the bound
    ex = _two_banks()
    path = write_jsonl(tmp_path / "unused.jsonl", [{"anchor": "a", "positive": "b"}])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the boundary
        config = _config(model_dir, path, tmp_path / "run", "pairs.num_negatives=1")
        TextPairTask(config, torch.Generator(), ex)
    message = "pairs.num_negatives is 2, more than the 1 negatives mining can give every anchor"
    config = _config(model_dir, path, tmp_path / "run", "pairs.num_negatives=2")
    with pytest.warns(UserWarning, match=re.escape(message)):
        TextPairTask(config, torch.Generator(), ex)


@pytest.mark.parametrize(
    ("epochs", "patience", "stage", "count"),
    [(10, 0, "Easy", 5), (11, 0, "Medium", 10), (1, 2, "Hard", 20)],
)
def test_a_curriculums_count_is_checked_against_the_text_candidates(
    model_dir: Path, tmp_path: Path, epochs: int, patience: int, stage: str, count: int
) -> None:
    """The default curriculum's stages (5, 10, 20 negatives from epochs 0, 10, 30)
    against the 1 text "bank" can mine: the largest count of the stages a run of
    ``epochs`` reaches (any stage, when a plateau may advance it)."""
    path = write_jsonl(tmp_path / "unused.jsonl", [{"anchor": "a", "positive": "b"}])
    overrides = ["schedule.curriculum=default", f"schedule.curriculum_patience={patience}"]
    config = _config(model_dir, path, tmp_path / "run", *overrides)  # pairs.num_negatives 0
    task = TextPairTask(config, torch.Generator(), _two_banks())
    curriculum = RunSchedules(config, torch.nn.Linear(1, 1), 1).curriculum
    key = f"schedule.curriculum 'default' stage '{stage}' num_negatives"
    message = f"{key} is {count}, more than the 1 negatives mining can give every anchor"
    with pytest.warns(UserWarning, match=re.escape(message)):
        warn_curriculum_negatives(curriculum, "default", epochs, task.negative_bound)


@pytest.mark.parametrize("num_negatives", [0, 1])
def test_text_candidate_count_equals_what_mining_can_fill(
    model_dir: Path, tmp_path: Path, num_negatives: int
) -> None:
    """min_candidates against a brute force: mine the whole pool, count unmasked slots;
    counted when nothing is mined too (a curriculum's count is checked against it)."""
    rows = compositional_pairs()
    ex = text_pairs_from_strings(
        [r["anchor"] for r in rows],
        [r["positive"] for r in rows],
        groups=[r["anchor"].split()[0] for r in rows],
        split=[0] * len(rows),
    )

    class Banned:  # bans pool texts ending in "yam" for anchors starting with "kaz"
        def __init__(self, texts: list[str]) -> None:
            self.anchor = torch.tensor([t.startswith("kaz") for t in texts])
            self.flag = torch.tensor([t.endswith("yam") for t in texts])

        def banned_pairs(self, anchor_ids, pool_ids):
            hit = self.anchor[anchor_ids].unsqueeze(1) & self.flag[pool_ids].unsqueeze(0)
            return torch.nonzero(hit, as_tuple=True)

        def forbidden(self, a, c):
            return self.anchor[a].unsqueeze(1) & self.flag[c].unsqueeze(0)

    task, ctx = _task(
        model_dir, ex, tmp_path, Banned(ex.texts), f"pairs.num_negatives={num_negatives}"
    )
    m = int(task.pool_ids.numel())
    u, v = task.anchor[task.train_rows], task.positive[task.train_rows]
    whole_pool = SampleContext(0, 0, 0.05, ctx.encoder, ctx.distance, num_negatives=m)
    _, mask = task.mined_negatives(u, v, whole_pool)
    brute = int(mask.sum(1).min())
    assert 0 < brute < m - 1
    assert task.min_candidates() == brute
