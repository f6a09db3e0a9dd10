"""``loop`` settings act as they claim through the trainer: ``deterministic`` sets
torch's switch both ways, ``autocast`` runs the encoder's matmuls in bf16,
``grad_cache_chunk_size`` encodes in chunks of at most that many items (the same
update), ``batch_size`` sets the steps of an epoch, ``log_every`` the logged steps and
``time_budget_s`` stops the run once spent.

(scripts/config_settings.py found no test of these effects through a run.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from contrastkit.train.run import train
from contrastkit.train.trainer import Trainer
from tests.karate_mlp import karate_mlp_config


def test_deterministic_sets_torchs_switch_both_ways(tmp_path: Path) -> None:
    before = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    try:
        Trainer(karate_mlp_config(tmp_path / "a", "loop.deterministic=true"))
        assert torch.are_deterministic_algorithms_enabled()
        # a run in the same process after a deterministic one (tune trials, tests)
        Trainer(karate_mlp_config(tmp_path / "b", "loop.deterministic=false"))
        assert not torch.are_deterministic_algorithms_enabled()
    finally:
        torch.use_deterministic_algorithms(before, warn_only=warn_only)


def _linear_output_dtypes(trainer: Trainer) -> set[torch.dtype]:
    seen: set[torch.dtype] = set()
    handles = [
        m.register_forward_hook(lambda _m, _i, out: seen.add(out.dtype))
        for m in trainer.encoder.modules()
        if isinstance(m, nn.Linear)
    ]
    trainer.train_step(torch.arange(64))
    for h in handles:
        h.remove()
    return seen


def test_autocast_runs_the_encoders_matmuls_in_bf16(tmp_path: Path) -> None:
    plain = Trainer(karate_mlp_config(tmp_path / "a"))
    assert _linear_output_dtypes(plain) == {torch.float32}
    cast = Trainer(karate_mlp_config(tmp_path / "b", "loop.autocast=true"))
    assert _linear_output_dtypes(cast) == {torch.bfloat16}


def _step_with_call_sizes(tmp_path: Path, *extra: str) -> tuple[list[int], dict[str, torch.Tensor]]:
    trainer = Trainer(karate_mlp_config(tmp_path, "loop.epochs=1", *extra))
    sizes: list[int] = []
    first = next(m for m in trainer.encoder.modules() if isinstance(m, nn.Linear))
    handle = first.register_forward_pre_hook(lambda _m, args: sizes.append(args[0].shape[0]))
    trainer.train_step(torch.arange(64))
    handle.remove()
    return sizes, {k: v.clone() for k, v in trainer.encoder.state_dict().items()}


def test_grad_cache_chunk_size_bounds_each_encoder_call_and_keeps_the_update(
    tmp_path: Path,
) -> None:
    plain_sizes, plain = _step_with_call_sizes(tmp_path / "a")
    sizes, cached = _step_with_call_sizes(tmp_path / "b", "loop.grad_cache_chunk_size=10")
    items = max(plain_sizes)
    assert items > 10  # the batch's items, encoded at once without caching
    assert max(sizes) <= 10 and sum(sizes) >= 2 * items  # chunks, encoded then replayed
    for key in plain:
        torch.testing.assert_close(cached[key], plain[key], atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize(("batch_size", "log_every"), [(50, 2), (200, 1)])
def test_batch_size_sets_the_steps_and_log_every_the_logged_ones(
    tmp_path: Path, batch_size: int, log_every: int
) -> None:
    config = karate_mlp_config(
        tmp_path,
        "loop.epochs=2",
        f"loop.batch_size={batch_size}",
        f"loop.log_every={log_every}",
        "eval.every_epochs=2",
    )
    trainer = train(config)
    examples = trainer.task.num_examples()  # karate's 156 directed relations
    per_epoch = -(-examples // batch_size)
    assert trainer.step == 2 * per_epoch
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    logged = [r["step"] for r in rows if r["kind"] == "train"]
    assert logged == list(range(log_every, 2 * per_epoch + 1, log_every))


def test_time_budget_stops_the_run_once_spent(tmp_path: Path) -> None:
    # a budget below one step's time: the first step spends it (no timing is asserted)
    config = karate_mlp_config(tmp_path, "loop.epochs=5", "loop.time_budget_s=1e-9")
    trainer = train(config)
    assert trainer.step == 1 and trainer.epoch == 0 and not trainer.stopped_early
    assert trainer.final_metrics  # evaluated where it stopped
