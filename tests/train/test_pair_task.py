"""The ``pairs`` task through the trainer: digits recipe, masks, objectives, split, resume."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from contrastkit.functional.info_nce import info_nce, supervised_info_nce
from contrastkit.objectives.batch import Batch
from contrastkit.objectives.entries_contrastive import in_batch_false_negatives
from contrastkit.train.config import TrainConfig, load_config, resume_config
from contrastkit.train.pair_task import LabelGroups, PairTask
from contrastkit.train.run import train
from contrastkit.train.trainer import Trainer
from contrastkit.typed_config import ConfigError

RECIPE = Path(__file__).parents[2] / "configs" / "digits_pairs.yaml"


def _config(tmp_path: Path, *overrides: str) -> TrainConfig:
    return load_config(
        RECIPE,
        [f"output.run_dir={tmp_path}", "loop.progress=false", "output.report=false", *overrides],
    )


def _epoch_batches(trainer: Trainer) -> list[Batch]:
    task = trainer.task
    perm = torch.randperm(task.num_examples(), generator=torch.Generator().manual_seed(5))
    return [task.batch(idx, trainer.sample_context()) for idx in perm.split(256)]


def test_digits_recipe_reaches_the_probe_target(tmp_path: Path) -> None:
    config = _config(tmp_path)
    fresh = Trainer(config, tmp_path / "fresh")
    before = fresh.task.evaluate(fresh.encoder, fresh.distance)
    after = train(config).final_metrics
    assert after["test/probe_accuracy"] >= 0.95, after
    assert before["test/probe_accuracy"] <= after["test/probe_accuracy"] - 0.03, before
    assert before["test/precision@10"] <= after["test/precision@10"] - 0.05, before
    assert after["test/num_queries"] == pytest.approx(0.2 * 1797, abs=5)
    assert config.eval.monitor in after


def test_masks_keep_same_label_items_out(tmp_path: Path) -> None:
    trainer = Trainer(_config(tmp_path))
    task = trainer.task
    assert isinstance(task, PairTask)
    batch = task.batch(torch.arange(256), trainer.sample_context())
    assert batch.negatives.shape == (256, 5) and batch.size == 256
    assert batch.labels is not None and batch.features is not None
    lab = batch.labels
    assert torch.equal(lab, task.labels[batch.items])
    assert torch.equal(batch.features, task.x[batch.items])
    # positives: another item of the anchor's label
    assert torch.equal(lab[batch.anchor], lab[batch.positive])
    assert not bool((batch.items[batch.anchor] == batch.items[batch.positive]).any())
    # mined negatives: never the anchor's label (so never the anchor or its positive)
    assert bool(batch.mask.float().mean() > 0.99)
    neg_lab = lab[batch.negatives]
    assert not bool((neg_lab == lab[batch.anchor].unsqueeze(1))[batch.mask].any())
    # in-batch: a key is a false negative exactly when it shares the anchor's label
    same = lab[batch.anchor].unsqueeze(1) == lab[batch.positive].unsqueeze(0)
    expected = same & ~torch.eye(256, dtype=torch.bool)
    assert torch.equal(in_batch_false_negatives(batch), expected)


@pytest.mark.parametrize("mode", ["symmetric", "multi_positive"])
def test_in_batch_infonce_equals_the_functional_form(tmp_path: Path, mode: str) -> None:
    trainer = Trainer(_config(tmp_path, f"objectives.infonce.{mode}=true"))
    batch = trainer.task.batch(torch.arange(200), trainer.sample_context())
    z = trainer.encoder.encode(batch)
    got = trainer.objectives["infonce"](batch.with_z(z))
    assert batch.labels is not None
    za, zp = z[batch.anchor], z[batch.positive]
    lab_a, lab_p = batch.labels[batch.anchor], batch.labels[batch.positive]
    if mode == "symmetric":
        same_item = batch.positive.unsqueeze(1) == batch.positive.unsqueeze(0)
        fn = (lab_a.unsqueeze(1) == lab_p.unsqueeze(0)) | same_item
        want = info_nce(
            za, zp, None, false_negative_mask=fn, temperature=0.1, distance="cosine", symmetric=True
        )
    else:
        want = supervised_info_nce(
            za, zp, labels=lab_a, key_labels=lab_p, temperature=0.1, distance="cosine"
        )
    torch.testing.assert_close(got, want)
    got.backward()  # the loss reaches the encoder
    assert any(p.grad is not None for p in trainer.encoder.parameters())


def test_test_items_never_enter_training(tmp_path: Path) -> None:
    trainer = Trainer(_config(tmp_path, "pairs.mine_strategy=random"))
    task = trainer.task
    assert isinstance(task, PairTask)
    test = set(task.test_items.tolist())
    assert not test & set(task.train_items.tolist())
    assert len(test) + task.train_items.numel() == task.num_items
    seen: set[int] = set()
    for batch in _epoch_batches(trainer):
        assert batch.negatives.shape[1] == 5
        seen |= set(batch.items.tolist())
    assert seen and not seen & test
    anchors, positives = task.snapshot_pairs(500)
    assert not set(anchors.tolist()) & test and not set(positives.tolist()) & test
    val = task.validation_batch(0.1)
    assert val is not None and val.negatives.shape == (val.anchor.numel(), 0)
    assert set(val.items.tolist()) <= test


def test_two_epochs_equal_one_plus_resume(tmp_path: Path) -> None:
    # refresh_every 2: the resumed epoch mines from the pool of epoch 0, which only the
    # checkpoint still has (the encoder has moved on)
    common = ["pairs.refresh_every=2", "loop.epochs=2", "eval.every_epochs=1"]
    straight = train(_config(tmp_path / "straight", *common))
    first = train(_config(tmp_path / "resumed", *common[:-2], "loop.epochs=1"))
    assert first.task.state_dict()["has_pool"]
    cfg = resume_config(tmp_path / "resumed", ["loop.epochs=2", "eval.every_epochs=1"])
    resumed = train(cfg, resume=True)
    assert resumed.step == straight.step == 12
    for name, value in straight.encoder.state_dict().items():
        assert torch.equal(value, resumed.encoder.state_dict()[name]), name


def test_label_groups_draw_other_same_label_items() -> None:
    labels = torch.tensor([2, 0, 2, 1, 0, 2, 0, 3])
    groups = LabelGroups(labels)
    assert groups.has_partner.tolist() == [True, True, True, False, True, True, True, False]
    anchors = torch.tensor([0, 1, 2, 4, 5, 6]).repeat(200)
    partner = groups.partner(anchors, torch.Generator().manual_seed(0))
    assert torch.equal(labels[partner], labels[anchors])
    assert not bool((partner == anchors).any())
    assert set(partner[anchors == 0].tolist()) == {2, 5}  # both others are drawn
    with pytest.raises(ValueError, match="another item"):
        groups.partner(torch.tensor([3]), torch.Generator())


def test_explicit_pairs_from_a_file(tmp_path: Path) -> None:
    gen = torch.Generator().manual_seed(0)
    labels = torch.arange(60) % 3
    x = torch.nn.functional.one_hot(labels).float() + 0.1 * torch.randn(60, 3, generator=gen)
    pairs = torch.stack([torch.arange(60), (torch.arange(60) + 3) % 60])
    path = tmp_path / "items.npz"
    np.savez(path, x=x.numpy(), labels=labels.numpy(), pairs=pairs.numpy())
    config = _config(
        tmp_path,
        "pairs.source=file",
        f"pairs.path={path}",
        "pairs.positives=explicit",
        "pairs.num_negatives=2",
        "loop.batch_size=16",
    )
    trainer = Trainer(config)
    task = trainer.task
    assert isinstance(task, PairTask)
    train_ids = set(task.train_items.tolist())
    assert task.num_examples() == int(task.train_pairs.shape[1]) > 0
    assert set(task.train_pairs.reshape(-1).tolist()) <= train_ids
    batch = task.batch(torch.arange(task.num_examples()), trainer.sample_context())
    assert set(batch.items.tolist()) <= train_ids
    assert batch.negatives.shape == (task.num_examples(), 2)


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("pairs.test_fraction=0", "pairs.test_fraction"),
        ("pairs.num_negatives=-1", "pairs.num_negatives"),
        ("pairs.mine_strategy=nearest", "pairs.mine_strategy"),
        ("pairs.refresh_every=0", "pairs.refresh_every"),
        ("pairs.eval_ks=[]", "pairs.eval_ks"),
        ("pairs.source=file", "pairs.path"),
        ("pairs.positives=explicit", "pairs.positives"),
    ],
)
def test_bad_settings_name_their_key(tmp_path: Path, override: str, key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        _config(tmp_path, override)


def test_a_missing_file_names_the_key(tmp_path: Path) -> None:
    config = _config(tmp_path, "pairs.source=file", f"pairs.path={tmp_path / 'none.npz'}")
    with pytest.raises(ValueError, match=r"pairs\.path"):
        PairTask(config, torch.Generator())


def _brute_min_candidates(task: PairTask) -> int:
    """Per training anchor, the pool items the miner's exclusions leave (brute force)."""
    from contrastkit.mining import build_exclusions

    if task.settings.positives == "explicit":
        u, v = task.train_pairs
    else:
        u = v = task.train_items[task.anchor_pos]
    m = task.train_items.numel()
    excl = build_exclusions(
        u.numel(),
        m,
        query_ids=task.pool_pos[u],
        positive_ids=task.pool_pos[v],
        query_labels=task.all_labels[u],
        pool_labels=task.train_labels,
    )
    cand = torch.arange(m).expand(u.numel(), m)
    return int((~excl.banned(torch.arange(u.numel()), cand, m)).sum(1).min())


@pytest.mark.parametrize("positives", ["same_label", "explicit"])
def test_more_pair_negatives_than_candidates_warns_with_both_numbers(
    tmp_path: Path, positives: str
) -> None:
    gen = torch.Generator().manual_seed(0)
    labels = torch.cat([torch.zeros(30), torch.ones(12), torch.full((18,), 2)]).long()
    x = torch.nn.functional.one_hot(labels).float() + 0.1 * torch.randn(60, 3, generator=gen)
    # explicit pairs across labels: the positive is one more item mining excludes
    pairs = torch.stack([torch.arange(60), (torch.arange(60) + 7) % 60])
    path = tmp_path / "items.npz"
    np.savez(path, x=x.numpy(), labels=labels.numpy(), pairs=pairs.numpy())
    base = ["pairs.source=file", f"pairs.path={path}", f"pairs.positives={positives}"]
    base += ["pairs.mine_strategy=hardest", "loop.batch_size=8"]
    probe = PairTask(_config(tmp_path, *base), torch.Generator())
    c = _brute_min_candidates(probe)
    assert probe.min_candidates() == c
    assert 0 < c < probe.train_items.numel() - 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the boundary: every anchor has c distinct ones
        trainer = Trainer(_config(tmp_path, *base, f"pairs.num_negatives={c}"))
    batch = trainer.task.batch(torch.arange(trainer.task.num_examples()), trainer.sample_context())
    assert bool(batch.mask.all(1).any())  # some anchor fills all c slots
    message = f"pairs.num_negatives is {c + 1}, more than the {c} negatives mining can give"
    with pytest.warns(UserWarning, match=re.escape(message)):
        trainer = Trainer(_config(tmp_path, *base, f"pairs.num_negatives={c + 1}"))
    batch = trainer.task.batch(torch.arange(trainer.task.num_examples()), trainer.sample_context())
    assert not bool(batch.mask.all(1).all())  # the fullest anchor's last slot is masked


def test_a_curriculums_negative_count_is_checked_against_the_candidates(tmp_path: Path) -> None:
    """schedule.curriculum 'linear' replaces pairs.num_negatives (0 here) with its stages'
    counts, up to miner.num_negatives: checked against the brute-force candidate count."""
    gen = torch.Generator().manual_seed(0)
    labels = torch.cat([torch.zeros(30), torch.ones(12), torch.full((18,), 2)]).long()
    x = torch.nn.functional.one_hot(labels).float() + 0.1 * torch.randn(60, 3, generator=gen)
    path = tmp_path / "items.npz"
    np.savez(path, x=x.numpy(), labels=labels.numpy())
    base = ["pairs.source=file", f"pairs.path={path}", "pairs.mine_strategy=hardest"]
    base += ["loop.batch_size=8", "loop.epochs=3", "schedule.curriculum=linear"]
    base += ["schedule.curriculum_stages=3", "pairs.num_negatives=0"]  # a stage an epoch
    base += ["objectives.infonce.temperature=null"]  # the stages set it
    probe = PairTask(_config(tmp_path, "pairs.source=file", f"pairs.path={path}"), gen)
    c = _brute_min_candidates(probe)
    assert 0 < c < probe.train_items.numel() - 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the boundary: every anchor has c distinct ones
        Trainer(_config(tmp_path, *base, f"miner.num_negatives={c}"))
    key = "schedule.curriculum 'linear' stage 'stage_2' num_negatives (up to miner.num_negatives)"
    message = f"{key} is {c + 1}, more than the {c} negatives mining can give"
    with pytest.warns(UserWarning, match=re.escape(message)):
        trainer = Trainer(_config(tmp_path, *base, f"miner.num_negatives={c + 1}"))
    trainer.schedules.end_of_epoch()
    trainer.schedules.end_of_epoch()  # the last stage: c + 1 negatives
    ctx = trainer.sample_context()
    assert ctx.num_negatives == c + 1
    batch = trainer.task.batch(torch.arange(trainer.task.num_examples()), ctx)
    assert batch.negatives.shape[1] == c + 1
    assert int(batch.mask.sum(1).min()) == c  # the fewest-candidate anchors fill c
