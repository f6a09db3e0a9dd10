"""Logistic-regression probe, stratified split and macro-F1 (against scikit-learn)."""

from __future__ import annotations

import pytest
import torch

from contrastkit.eval.probe import accuracy_and_macro_f1, logistic_probe, stratified_split

metrics = pytest.importorskip("sklearn.metrics")


def test_stratified_split_is_stratified_and_reproducible() -> None:
    y = torch.tensor([0] * 50 + [1] * 30 + [2] * 7 + [3] * 1)
    tr, te = stratified_split(y, 0.3, seed=4)
    tr2, te2 = stratified_split(y, 0.3, seed=4)
    assert torch.equal(tr, tr2) and torch.equal(te, te2)
    assert not torch.equal(te, stratified_split(y, 0.3, seed=5)[1])
    assert sorted(torch.cat([tr, te]).tolist()) == list(range(y.numel()))
    assert torch.bincount(y[te], minlength=4).tolist() == [15, 9, 2, 0]
    # A class of one member stays in training; every class of >= 2 is tested.
    assert int((y[tr] == 3).sum()) == 1
    with pytest.raises(ValueError, match="test_size"):
        stratified_split(y, 1.0)
    with pytest.raises(TypeError, match="labels"):
        stratified_split(y.float())
    with pytest.raises(ValueError, match="labels"):
        stratified_split(torch.tensor([0, -1]))


def test_macro_f1_matches_sklearn(gen: torch.Generator) -> None:
    for _ in range(20):
        t = torch.randint(0, 5, (60,), generator=gen)
        p = torch.randint(0, 6, (60,), generator=gen)
        acc, f1 = accuracy_and_macro_f1(p, t)
        assert acc == pytest.approx(metrics.accuracy_score(t.numpy(), p.numpy()))
        assert f1 == pytest.approx(
            metrics.f1_score(t.numpy(), p.numpy(), average="macro", zero_division=0)
        )
    with pytest.raises(ValueError, match="pred"):
        accuracy_and_macro_f1(torch.tensor([0, 1]), torch.tensor([0]))
    with pytest.raises(ValueError, match="target"):
        accuracy_and_macro_f1(
            torch.tensor([], dtype=torch.long), torch.tensor([], dtype=torch.long)
        )


def test_probe_separable_vs_random(gen: torch.Generator) -> None:
    y = torch.arange(300) % 3
    centres = torch.randn(3, 8, generator=gen) * 4
    z = centres[y] + torch.randn(300, 8, generator=gen)
    good = logistic_probe(z, y, seed=0)
    assert good["accuracy"] > 0.95 and good["macro_f1"] > 0.95
    assert good["num_test"] == 90.0
    noise = logistic_probe(torch.randn(300, 8, generator=gen), y, seed=0)
    assert noise["accuracy"] < 0.6
    # Deterministic for a fixed seed; float32 input accepted.
    assert logistic_probe(z.float(), y, seed=0)["accuracy"] == pytest.approx(good["accuracy"])


def test_probe_close_to_sklearn_logistic_regression() -> None:
    datasets = pytest.importorskip("sklearn.datasets")
    linear = pytest.importorskip("sklearn.linear_model")
    preprocessing = pytest.importorskip("sklearn.preprocessing")
    x, y = datasets.load_digits(return_X_y=True)
    x, y = x[:600], y[:600]
    z, yt = torch.tensor(x), torch.tensor(y)
    ours = logistic_probe(z, yt, seed=0, l2=1e-2)
    tr, te = stratified_split(yt, 0.3, seed=0)
    scaler = preprocessing.StandardScaler().fit(x[tr.numpy()])
    # sklearn minimises C * sum(CE) + ||W||^2 / 2 = our objective with C = 1 / (l2 * n).
    clf = linear.LogisticRegression(C=1.0 / (1e-2 * len(tr)), max_iter=2000)
    clf.fit(scaler.transform(x[tr.numpy()]), y[tr.numpy()])
    acc = (clf.predict(scaler.transform(x[te.numpy()])) == y[te.numpy()]).mean()
    assert ours["accuracy"] == pytest.approx(acc, abs=0.02)


def test_probe_degenerate_and_bad_input() -> None:
    z = torch.randn(10, 3)
    with pytest.raises(ValueError, match="two classes"):
        logistic_probe(z, torch.zeros(10, dtype=torch.long))
    with pytest.raises(ValueError, match="labels"):
        logistic_probe(z, torch.zeros(9, dtype=torch.long))
    with pytest.raises(ValueError, match="no test items"):
        logistic_probe(z[:2], torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="embeddings"):
        logistic_probe(torch.full((10, 3), float("inf")), torch.arange(10) % 2)
    with pytest.raises(ValueError, match="l2"):
        logistic_probe(z, torch.arange(10) % 2, l2=-1.0)
    # Constant features still give a finite, defined probe (chance accuracy).
    res = logistic_probe(torch.ones(20, 3), torch.arange(20) % 2)
    assert 0.0 <= res["accuracy"] <= 1.0
