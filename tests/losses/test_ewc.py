"""EWC: hand-computed Fisher, penalty formula, per-layer and adaptive λ, tasks, checkpoints."""

from __future__ import annotations

import io

import pytest
import torch
from torch import nn

from contrastkit.losses.ewc import EWC
from contrastkit.losses.fisher import diagonal_fisher


def mse(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    x, t = batch
    return (model(x).squeeze(-1) - t).square().mean()


@pytest.fixture
def linear_data(gen: torch.Generator) -> tuple[nn.Linear, torch.Tensor, torch.Tensor]:
    model = nn.Linear(3, 1).double()
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[0.5, -1.0, 2.0]]))
        model.bias.fill_(0.25)
    x = torch.randn(6, 3, generator=gen, dtype=torch.float64)
    t = torch.randn(6, generator=gen, dtype=torch.float64)
    return model, x, t


def hand_fisher(model: nn.Linear, x: torch.Tensor, t: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-sample gradients of (w·x + b - t)² by hand: 2 r x and 2 r, squared and averaged."""
    with torch.no_grad():
        r = x @ model.weight[0] + model.bias[0] - t
    return {
        "weight": (4 * r[:, None] ** 2 * x**2).mean(0, keepdim=True),
        "bias": (4 * r**2).mean().reshape(1),
    }


def test_fisher_equals_hand_computation(linear_data: tuple) -> None:
    model, x, t = linear_data
    ref = hand_fisher(model, x, t)
    singles = [(x[i : i + 1], t[i : i + 1]) for i in range(6)]
    per_batch = diagonal_fisher(model, singles, mse)
    per_sample = diagonal_fisher(model, [(x[:4], t[:4]), (x[4:], t[4:])], mse, per_sample=True)
    for name in ("weight", "bias"):
        torch.testing.assert_close(per_batch[name], ref[name])
        torch.testing.assert_close(per_sample[name], ref[name])
    # one batch of 6: the square of the batch-mean gradient
    whole = diagonal_fisher(model, [(x, t)], mse)
    with torch.no_grad():
        r = x @ model.weight[0] + model.bias[0] - t
    torch.testing.assert_close(whole["weight"], (2 * r[:, None] * x).mean(0, keepdim=True) ** 2)
    assert model.weight.grad is None  # .grad untouched


def test_fisher_max_batches_and_frozen_parameters(linear_data: tuple) -> None:
    model, x, t = linear_data
    model.bias.requires_grad_(False)
    singles = [(x[i : i + 1], t[i : i + 1]) for i in range(6)]
    f = diagonal_fisher(model, iter(singles), mse, max_batches=2)
    assert set(f) == {"weight"}
    torch.testing.assert_close(f["weight"], hand_fisher(model, x[:2], t[:2])["weight"])


def test_penalty_formula_and_gradient(linear_data: tuple) -> None:
    model, x, t = linear_data
    ewc = EWC(3.0)
    fisher = ewc.consolidate(model, [(x, t)], mse, per_sample=True)
    anchor = {n: p.detach().clone() for n, p in model.named_parameters()}
    assert ewc.penalty(model).item() == 0.0
    with torch.no_grad():
        model.weight.add_(torch.tensor([[0.1, -0.2, 0.3]], dtype=torch.float64))
        model.bias.add_(0.5)
    ref = sum(
        (fisher[n] * (p.detach() - anchor[n]) ** 2).sum() * 1.5 for n, p in model.named_parameters()
    )
    out = ewc(model)
    torch.testing.assert_close(out, ref)
    out.backward()
    torch.testing.assert_close(
        model.weight.grad, 3.0 * fisher["weight"] * (model.weight.detach() - anchor["weight"])
    )


def test_attached_zero_before_any_task(linear_data: tuple) -> None:
    model, _, _ = linear_data
    out = EWC()(model)
    assert out.item() == 0.0 and out.requires_grad
    out.backward()
    assert model.weight.grad is not None and not model.weight.grad.any()


def test_per_layer_lambda_prefixes() -> None:
    ewc = EWC(1.0, layer_lambdas={"enc": 5.0, "enc.1": 7.0, "head": 0.0})
    assert ewc.base_lambda("enc.0.weight") == 5.0
    assert ewc.base_lambda("enc.1.bias") == 7.0
    assert ewc.base_lambda("encoder.weight") == 1.0  # component-wise match only
    assert ewc.base_lambda("head.weight") == 0.0


def test_adaptive_lambda_rules() -> None:
    fisher = {
        "a.weight": torch.full((2, 2), 4.0),
        "a.bias": torch.zeros(2),  # layer "a": mean over 6 entries = 16/6
        "b.weight": torch.full((3,), 1e-6),
    }
    anchor = {n: torch.zeros_like(f) for n, f in fisher.items()}
    scaled = EWC(2.0, adaptive="fisher_mean")
    scaled.add_task(fisher, anchor)
    lam = scaled.lambdas()[0]
    assert lam["a.weight"] == pytest.approx(2.0 * 1000 * 16 / 6)
    assert lam["a.bias"] == lam["a.weight"]
    assert lam["b.weight"] == pytest.approx(2.0 * 1000 * 1e-6)
    norm = EWC(2.0, adaptive="normalize")
    norm.add_task(fisher, anchor)
    lam = norm.lambdas()[0]
    assert lam["a.weight"] == pytest.approx(2.0 * 6 / 16)
    assert lam["b.weight"] == pytest.approx(2.0 / 1e-6, rel=1e-6)
    zero = EWC(adaptive="normalize")
    zero.add_task({"c.w": torch.zeros(2)}, {"c.w": torch.zeros(2)})
    assert zero.lambdas()[0]["c.w"] == 0.0


def test_online_and_separate_consolidation() -> None:
    f1, f2 = {"w": torch.tensor([1.0, 2.0])}, {"w": torch.tensor([3.0, 0.0])}
    a1, a2 = {"w": torch.tensor([0.0, 0.0])}, {"w": torch.tensor([1.0, 1.0])}
    model = nn.Module()
    model.w = nn.Parameter(torch.tensor([2.0, -1.0]))
    online = EWC(2.0, gamma=0.5)
    online.add_task(f1, a1)
    online.add_task(f2, a2)
    assert online.num_consolidated == 2 and len(online.lambdas()) == 1
    fisher = 0.5 * f1["w"] + f2["w"]
    ref = (fisher * (model.w.detach() - a2["w"]) ** 2).sum()
    torch.testing.assert_close(online(model), ref)
    separate = EWC(2.0, consolidation="separate")
    separate.add_task(f1, a1)
    separate.add_task(f2, a2)
    ref = sum((f["w"] * (model.w.detach() - a["w"]) ** 2).sum() for f, a in ((f1, a1), (f2, a2)))
    torch.testing.assert_close(separate(model), ref)


@pytest.mark.parametrize("consolidation", ["online", "separate"])
def test_state_dict_round_trip_through_weights_only_load(
    linear_data: tuple, consolidation: str
) -> None:
    model, x, t = linear_data
    ewc = EWC(2.0, layer_lambdas={"bias": 0.5}, adaptive="normalize", consolidation=consolidation)
    ewc.consolidate(model, [(x, t)], mse)
    with torch.no_grad():
        model.weight.mul_(1.5)
    ewc.consolidate(model, [(x, t)], mse)
    with torch.no_grad():
        model.weight.add_(0.3)
    buf = io.BytesIO()
    torch.save(ewc.state_dict(), buf)
    buf.seek(0)
    restored = EWC()
    restored.load_state_dict(torch.load(buf, weights_only=True))
    torch.testing.assert_close(restored(model), ewc(model))
    assert restored.lambdas() == ewc.lambdas() and restored.num_consolidated == 2
    assert restored.consolidation == consolidation


def test_ewc_reduces_forgetting_on_two_tasks() -> None:
    gen = torch.Generator().manual_seed(0)

    def task(scale: torch.Tensor, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.randn(64, 4, generator=gen) * scale
        return x, x @ w + 0.5 * torch.randn(64, generator=gen)

    # task A lives in features 0-1, task B mostly in 2-3 and disagrees on the shared weights
    data_a = task(torch.tensor([1.0, 1.0, 0.05, 0.05]), torch.tensor([1.0, -2.0, 0.5, 1.0]))
    data_b = task(torch.tensor([0.3, 0.3, 1.0, 1.0]), torch.tensor([-1.0, 1.0, 2.0, -0.5]))

    def run(ewc: EWC | None) -> tuple[float, float]:
        torch.manual_seed(0)
        model = nn.Linear(4, 1)
        for data, reg in ((data_a, None), (data_b, ewc)):
            opt = torch.optim.SGD(model.parameters(), lr=0.1)
            for _ in range(200):
                opt.zero_grad()
                loss = mse(model, data) + (reg(model) if reg is not None else 0.0)
                loss.backward()
                opt.step()
            if ewc is not None and data is data_a:
                ewc.consolidate(model, [data_a], mse, per_sample=True)
        return mse(model, data_a).item(), mse(model, data_b).item()

    plain_a, _ = run(None)
    ewc_a, ewc_b = run(EWC(10.0))
    assert ewc_a < 0.25 * plain_a  # remembers A
    assert ewc_b < plain_a  # and still learns B


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="lambda_"):
        EWC(-1.0)
    with pytest.raises(ValueError, match="layer_lambdas"):
        EWC(layer_lambdas={"a": -1.0})
    with pytest.raises(ValueError, match="gamma"):
        EWC(gamma=1.5)
    with pytest.raises(ValueError, match="adaptive"):
        EWC(adaptive="max")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="consolidation"):
        EWC(consolidation="merge")  # type: ignore[arg-type]
    ewc = EWC()
    with pytest.raises(ValueError, match="fisher"):
        ewc.add_task({"w": -torch.ones(2)}, {"w": torch.zeros(2)})
    with pytest.raises(ValueError, match="fisher"):
        ewc.add_task({"w": torch.ones(2)}, {"v": torch.zeros(2)})
    with pytest.raises(ValueError, match="fisher"):
        ewc.add_task({"w": torch.ones(2)}, {"w": torch.zeros(3)})
    model = nn.Linear(2, 1)
    with pytest.raises(ValueError, match="batches"):
        diagonal_fisher(model, [], lambda m, b: m(b).sum())
    with pytest.raises(ValueError, match="loss_fn"):
        diagonal_fisher(model, [torch.ones(3, 2)], lambda m, b: m(b))
    with pytest.raises(ValueError, match="max_batches"):
        diagonal_fisher(model, [torch.ones(3, 2)], lambda m, b: m(b).sum(), max_batches=0)
    ewc.add_task({"missing": torch.ones(1)}, {"missing": torch.zeros(1)})
    with pytest.raises(ValueError, match="missing"):
        ewc(model)
    with pytest.raises(ValueError, match="fishers"):
        EWC().load_state_dict({"lambda_": 1.0})
