"""Every registered objective, run through the trainer from a config, equals its
functional form on the trainer's own batch.

Each test builds a :class:`~contrastkit.train.trainer.Trainer` from ``load_config``
overrides (karate as relations or nodes, a small SBM under a neighbour-sampled GNN,
digits pairs), draws one batch with ``trainer.task.batch(idx, trainer.sample_context())``,
encodes it with the trainer's step, and compares the value the step computes for the
objective (``trainer.step_fn.losses``) with the functional call the objective's entry
documents, written out here from the batch's tensors. Then PCGrad: with conflicting
objectives a ``combiner.method: pcgrad`` step moves the parameters differently from a
``fixed`` one (exactly by the projected gradient), with one objective identically.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pytest
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from scipy.sparse.csgraph import shortest_path
from torch import Tensor

from contrastkit.functional.dgi import dgi_loss
from contrastkit.functional.distance_preservation import distance_preservation_loss
from contrastkit.functional.feature_reconstruction import feature_reconstruction_loss
from contrastkit.functional.info_nce import info_nce, supervised_info_nce
from contrastkit.functional.link import link_prediction_loss, sparse_adjacency_reconstruction_loss
from contrastkit.functional.mnr import multiple_negatives_ranking_loss
from contrastkit.functional.node_classification import node_classification_loss
from contrastkit.functional.pair_contrastive import (
    local_contrastive_loss,
    multi_hop_contrastive_loss,
)
from contrastkit.functional.regularizers import embedding_norm_penalty, feature_orthogonality
from contrastkit.functional.sparsity import l1_sparsity
from contrastkit.functional.spectral import laplacian_smoothness
from contrastkit.functional.triplet import triplet_margin_loss
from contrastkit.objectives import REGISTRY, Batch, parse_objectives
from contrastkit.train.config import load_config
from contrastkit.train.step import AutogradStep
from contrastkit.train.trainer import Trainer
from contrastkit.typed_config import ConfigError

COMMON = [
    "encoder.manifold=euclidean",
    "encoder.dim=8",
    "encoder.hidden=16",
    "objective.temperature=0.5",
    "optim.name=adam",
    "optim.lr=0.01",
    "loop.burn_in_epochs=0",
    "loop.batch_size=32",
    "output.report=false",
    "loop.progress=false",
]
# relations of the karate club, an MLP over one-hot node features
KARATE = [
    "data.name=karate",
    "encoder.kind=mlp",
    "objective.distance=cosine",
    "miner.num_negatives=6",
    "miner.strategy=random",
]
# the karate club as a nodes task: a full-graph GNN, every batch carries the graph
KARATE_NODES = [
    "task.kind=nodes",
    "data.name=karate",
    "nodes.sampler=full",
    "nodes.num_negatives=4",
    "encoder.kind=gnn",
    "encoder.gnn=gcn",
    "objective.distance=dot",
]
# a small planted partition under a neighbour-sampled GraphSAGE (a sampled subgraph)
SBM = [
    "task.kind=nodes",
    "data.name=sbm",
    "data.sbm_nodes=60",
    "data.sbm_blocks=3",
    "data.sbm_p_in=0.3",
    "data.sbm_p_out=0.02",
    "nodes.sampler=neighbor",
    "nodes.fanouts=[3, 3]",
    "nodes.features=noisy_labels",
    "nodes.feature_noise_dims=4",
    "nodes.num_negatives=4",
    "encoder.kind=gnn",
    "encoder.gnn=sage",
    "objective.distance=dot",
]
# digits as anchor/positive pairs of one label with mined hard negatives
DIGITS = [
    "task.kind=pairs",
    "pairs.source=digits",
    "pairs.positives=same_label",
    "pairs.num_negatives=3",
    "pairs.mine_strategy=hardest",
    "encoder.kind=mlp",
    "objective.distance=cosine",
]
SETUPS = {"karate": KARATE, "karate_nodes": KARATE_NODES, "sbm": SBM, "digits": DIGITS}

# what this file checks through the trainer: every registered objective
TESTED = {
    "ewc",  # through the trainer in tests/objectives/test_ewc_objective.py (needs two runs)
    "l2sp",  # through the trainer in tests/objectives/test_preserve_objectives.py
    "distill",  # through the trainer in tests/objectives/test_preserve_objectives.py
    "infonce",
    "mnr",
    "triplet",
    "local",
    "multihop",
    "link",
    "adjacency",
    "spectral",
    "feature_reconstruction",
    "dgi",
    "distance_preservation",
    "norm",
    "orthogonality",
    "sparsity",
    "node_classification",
}


def _trainer(tmp_path: Path, setup: str, objectives: dict[str, Any], *extra: str) -> Trainer:
    config = load_config(
        None,
        [
            *COMMON,
            *SETUPS[setup],
            f"output.run_dir={tmp_path / 'run'}",
            f"objectives={json.dumps(objectives)}",
            *extra,
        ],
    )
    return Trainer(config)


def _step(trainer: Trainer) -> AutogradStep:
    step = trainer.step_fn
    assert isinstance(step, AutogradStep)  # an mlp/gnn encoder: the autograd step
    return step


def _objective(trainer: Trainer, name: str) -> Any:
    return trainer.objectives[name]


def _encoded(trainer: Trainer, size: int = 32) -> Batch:
    """One batch of the trainer's task (its first ``size`` examples), encoded by its step."""
    idx = torch.arange(min(size, trainer.task.num_examples()))
    batch = trainer.task.batch(idx, trainer.sample_context())
    assert batch.z.numel() == 0  # the task leaves z to the step
    encoded = _step(trainer).encode(batch)
    assert encoded.z.shape == (batch.items.numel(), trainer.config.encoder.dim)
    return encoded


def _value(trainer: Trainer, batch: Batch, name: str) -> Tensor:
    """The objective's value as the training step computes it on ``batch``."""
    _, losses = _step(trainer).losses(batch)
    return losses[name]


def _close(actual: Tensor, expected: Tensor, **tol: Any) -> None:
    torch.testing.assert_close(actual.detach(), expected.detach(), **tol)


def _negative_pairs(batch: Batch) -> Tensor:
    """``[2, M]`` (anchor row, negative row) of every valid slot, row-major."""
    rows, cols = batch.mask.nonzero(as_tuple=True)
    return torch.stack([batch.anchor[rows], batch.negatives[rows, cols]])


def _hop_distances(edges: Tensor, num_rows: int) -> np.ndarray:
    """All-pairs hop counts ``[U, U]`` of the undirected graph ``edges`` (inf: unreachable)."""
    e = edges.numpy()
    adj = sp.coo_matrix((np.ones(e.shape[1]), (e[0], e[1])), shape=(num_rows, num_rows))
    return shortest_path(adj.tocsr(), directed=False, unweighted=True)


def _hop_pairs(edges: Tensor, num_rows: int, max_hop: int) -> tuple[Tensor, Tensor]:
    """Ordered pairs ``[2, P]`` at hop distance ``1..max_hop`` and their hop counts."""
    dist = _hop_distances(edges, num_rows)
    i, j = np.nonzero((dist >= 1) & (dist <= max_hop))
    pairs = torch.as_tensor(np.stack([i, j]), dtype=torch.int64)
    return pairs, torch.as_tensor(dist[i, j], dtype=torch.int64)


def test_every_registered_objective_is_checked_here() -> None:
    parse_objectives({"infonce": 1.0})  # the entries register on first use
    assert set(REGISTRY) == TESTED, (
        f"objectives without a through-trainer test: {sorted(set(REGISTRY) - TESTED)}"
    )


def test_the_step_encodes_with_the_encoder_and_combines_the_objectives(tmp_path: Path) -> None:
    trainer = _trainer(tmp_path, "karate", {"infonce": 1.0, "norm": 0.25, "sparsity": 0.5})
    batch = _encoded(trainer)
    _close(batch.z, trainer.encoder.encode(batch))
    combined, losses = _step(trainer).losses(batch)
    assert set(losses) == {"infonce", "norm", "sparsity"}
    for name, objective in trainer.objectives.items():
        _close(losses[name], objective(batch))
    _close(combined.total, losses["infonce"] + 0.25 * losses["norm"] + 0.5 * losses["sparsity"])


# ---- contrastive -------------------------------------------------------------------
@pytest.mark.parametrize("distance", ["cosine", "dot"])
def test_infonce_equals_info_nce_over_the_mined_negatives(tmp_path: Path, distance: str) -> None:
    # dot takes the fused relation kernel: the same value as the generic form
    trainer = _trainer(tmp_path, "karate", {"infonce": 1.0}, f"objective.distance={distance}")
    batch = _encoded(trainer)
    assert batch.negatives.shape == (32, 6)
    z = batch.z
    expected = info_nce(
        z[batch.anchor],
        z[batch.positive],
        z[batch.negatives],
        negative_mask=batch.mask,
        temperature=0.5,
        distance=distance,
    )
    _close(_value(trainer, batch, "infonce"), expected)


def test_infonce_learnable_temperature_uses_its_own_tau(tmp_path: Path) -> None:
    trainer = _trainer(
        tmp_path,
        "karate",
        {"infonce": {"weight": 1.0, "temperature": 0.1, "learnable_temperature": True}},
    )
    batch = _encoded(trainer)
    tau = _objective(trainer, "infonce").temperature()
    assert float(tau.detach()) == pytest.approx(0.1)
    z = batch.z
    expected = info_nce(
        z[batch.anchor],
        z[batch.positive],
        z[batch.negatives],
        negative_mask=batch.mask,
        temperature=tau,
        distance="cosine",
    )
    actual = _value(trainer, batch, "infonce")
    _close(actual, expected)
    at_run_tau = info_nce(
        z[batch.anchor], z[batch.positive], z[batch.negatives], negative_mask=batch.mask,
        temperature=0.5, distance="cosine",
    )  # fmt: skip
    assert not torch.allclose(actual, at_run_tau)


def _in_batch_false_negatives(batch: Batch) -> Tensor:
    """Keys ``j`` that are no negatives of anchor ``i``: the same positive item or the
    anchor's label (``>= 0``); the diagonal is the positive itself (False)."""
    pos = batch.positive
    same = pos[:, None] == pos[None, :]
    assert batch.labels is not None
    a, p = batch.labels[batch.anchor], batch.labels[pos]
    same = same | ((a[:, None] == p[None, :]) & (a[:, None] >= 0))
    return same & ~torch.eye(len(pos), dtype=torch.bool)


@pytest.mark.parametrize("symmetric", [False, True])
def test_infonce_in_batch_masks_same_label_keys(tmp_path: Path, symmetric: bool) -> None:
    params = {"weight": 1.0, "in_batch": True, "symmetric": symmetric}
    trainer = _trainer(tmp_path, "digits", {"infonce": params})
    batch = _encoded(trainer)
    fn = _in_batch_false_negatives(batch)
    assert fn.any()  # digits: 10 labels in a batch of 32, same-label keys exist
    z = batch.z
    expected = info_nce(
        z[batch.anchor],
        z[batch.positive],
        None,
        false_negative_mask=fn,
        temperature=0.5,
        distance="cosine",
        symmetric=symmetric,
    )
    actual = _value(trainer, batch, "infonce")
    _close(actual, expected)
    unmasked = info_nce(
        z[batch.anchor], z[batch.positive], None, temperature=0.5, distance="cosine",
        symmetric=symmetric,
    )  # fmt: skip
    assert not torch.allclose(actual, unmasked)


def test_infonce_multi_positive_is_supervised_info_nce(tmp_path: Path) -> None:
    trainer = _trainer(
        tmp_path, "digits", {"infonce": {"weight": 1.0, "in_batch": True, "multi_positive": True}}
    )
    batch = _encoded(trainer)
    assert batch.labels is not None
    a = batch.labels[batch.anchor]
    p = batch.labels[batch.positive]
    positive_mask = (a[:, None] == p[None, :]) | torch.eye(len(a), dtype=torch.bool)
    same_item = batch.positive[:, None] == batch.positive[None, :]
    z = batch.z
    expected = supervised_info_nce(
        z[batch.anchor],
        z[batch.positive],
        positive_mask=positive_mask,
        false_negative_mask=same_item & ~positive_mask,
        temperature=0.5,
        distance="cosine",
    )
    _close(_value(trainer, batch, "infonce"), expected)


def _mnr_hard_negatives(batch: Batch) -> Tensor:
    """``[B, K, d]``: each anchor's negatives (empty slots are masked for every anchor)."""
    return batch.z[batch.negatives]


@pytest.mark.parametrize("symmetric", [False, True])
def test_mnr_equals_multiple_negatives_ranking_loss_with_hard_negatives(
    tmp_path: Path, symmetric: bool
) -> None:
    params = {"weight": 1.0, "scale": 10.0, "symmetric": symmetric}
    trainer = _trainer(tmp_path, "digits", {"mnr": params})
    batch = _encoded(trainer)
    b, k = batch.negatives.shape
    assert k == 3 and bool(batch.mask.any())
    z = batch.z
    # both blocks mask same-item / same-label keys and empty slots
    fn = torch.cat([_in_batch_false_negatives(batch), _shared_hard_false_negatives(batch)], 1)
    assert fn.shape == (b, b + b * k)
    expected = multiple_negatives_ranking_loss(
        z[batch.anchor],
        z[batch.positive],
        _mnr_hard_negatives(batch),
        scale=10.0,
        distance="cosine",
        symmetric=symmetric,
        false_negative_mask=fn,
    )
    actual = _value(trainer, batch, "mnr")
    _close(actual, expected)
    without_hard = multiple_negatives_ranking_loss(
        z[batch.anchor], z[batch.positive], None, scale=10.0, distance="cosine",
        symmetric=symmetric, false_negative_mask=fn[:, :b],
    )  # fmt: skip
    assert not torch.allclose(actual, without_hard)


def _shared_hard_false_negatives(batch: Batch) -> Tensor:
    """``[B, B * K]`` over MNR's hard columns (column ``j * B + r``: row ``r``'s ``j``-th
    negative, :func:`~contrastkit.functional.mnr.mnr_candidates`' order): True where the
    item is, for anchor ``i``, its own positive item or of its label — what the in-batch
    block masks as a false negative."""
    assert batch.labels is not None
    columns = batch.negatives.T.reshape(-1)  # [K * B]
    empty = ~batch.mask.T.reshape(-1)[None, :]
    own = batch.positive[:, None] == columns[None, :]
    a = batch.labels[batch.anchor]
    label = (a[:, None] == batch.labels[columns][None, :]) & (a[:, None] >= 0)
    return own | label | empty


def test_mnr_digits_batch_shares_hard_negatives_that_are_false_negatives(tmp_path: Path) -> None:
    # every row's hard negatives are candidates of every anchor (sentence-transformers'
    # layout): on digits some of them carry another anchor's label
    trainer = _trainer(tmp_path, "digits", {"mnr": 1.0})
    batch = _encoded(trainer)
    assert bool(_shared_hard_false_negatives(batch).any())


def test_mnr_masks_false_negatives_among_shared_hard_negatives(tmp_path: Path) -> None:
    trainer = _trainer(tmp_path, "digits", {"mnr": 1.0})
    batch = _encoded(trainer)
    b = batch.anchor.numel()
    z = batch.z
    fn = torch.cat([_in_batch_false_negatives(batch), _shared_hard_false_negatives(batch)], 1)
    assert bool(fn[:, b:].any())
    expected = multiple_negatives_ranking_loss(
        z[batch.anchor],
        z[batch.positive],
        _mnr_hard_negatives(batch),
        scale=20.0,
        distance="cosine",
        false_negative_mask=fn,
    )
    _close(_value(trainer, batch, "mnr"), expected)


def test_triplet_adaptive_margin_and_penalty_reach_the_functional(tmp_path: Path) -> None:
    params = {"weight": 1.0, "adaptive_margin": True, "hard_negative_penalty": True}
    trainer = _trainer(
        tmp_path,
        "karate",
        {"triplet": {**params, "penalty_threshold": 0.2, "penalty_weight": 0.5}},
        "objective.margin=0.3",
    )
    batch = _encoded(trainer)
    z = batch.z
    args = (z[batch.anchor], z[batch.positive], z[batch.negatives])
    common: dict[str, Any] = {"negative_mask": batch.mask, "margin": 0.3, "distance": "cosine"}
    expected = triplet_margin_loss(
        *args,
        **common,
        adaptive_margin=True,
        hard_negative_penalty=True,
        penalty_weight=0.5,
        penalty_threshold=0.2,
    )
    actual = _value(trainer, batch, "triplet")
    _close(actual, expected)
    plain = triplet_margin_loss(*args, **common)
    assert not torch.allclose(actual, plain)
    # each option on its own changes the value too: both reach the loss
    only_margin = triplet_margin_loss(*args, **common, adaptive_margin=True)
    assert not torch.allclose(actual, only_margin)
    assert not torch.allclose(only_margin, plain)


def test_triplet_plain_uses_the_run_margin(tmp_path: Path) -> None:
    trainer = _trainer(tmp_path, "karate", {"triplet": 1.0}, "objective.margin=0.4")
    batch = _encoded(trainer)
    z = batch.z
    expected = triplet_margin_loss(
        z[batch.anchor],
        z[batch.positive],
        z[batch.negatives],
        negative_mask=batch.mask,
        margin=0.4,
        distance="cosine",
    )
    _close(_value(trainer, batch, "triplet"), expected)


def test_local_is_hadsell_on_normalised_embeddings_under_cosine(tmp_path: Path) -> None:
    trainer = _trainer(tmp_path, "karate", {"local": 1.0}, "objective.margin=0.5")
    batch = _encoded(trainer)
    pos = torch.stack([batch.anchor, batch.positive])
    neg = _negative_pairs(batch)
    similar = torch.cat(
        [torch.ones(pos.shape[1], dtype=torch.bool), torch.zeros(neg.shape[1], dtype=torch.bool)]
    )
    expected = local_contrastive_loss(
        F.normalize(batch.z, dim=-1),
        torch.cat([pos, neg], 1),
        similar,
        margin=0.5,
        distance="euclidean",
    )
    _close(_value(trainer, batch, "local"), expected)


@pytest.mark.parametrize("setup", ["karate_nodes", "sbm"])
def test_multihop_pulls_the_batch_graphs_hop_pairs(tmp_path: Path, setup: str) -> None:
    params = {"weight": 1.0, "hop_weights": [1.0, 0.25], "negative_weight": 0.5, "margin": 2.0}
    trainer = _trainer(tmp_path, setup, {"multihop": params})
    batch = _encoded(trainer)
    assert batch.edges is not None
    pairs, hops = _hop_pairs(batch.edges, batch.z.shape[0], 2)
    assert set(hops.tolist()) == {1, 2}
    expected = multi_hop_contrastive_loss(
        batch.z,
        pairs,
        hops,
        hop_weights=[1.0, 0.25],
        negative_edge_index=_negative_pairs(batch),
        negative_weight=0.5,
        margin=2.0,
        distance="euclidean",  # dot scores: the pair loss measures L2
        normalize=False,
    )
    _close(_value(trainer, batch, "multihop"), expected, rtol=1e-5, atol=1e-6)


# ---- graph structure -------------------------------------------------------------
@pytest.mark.parametrize(
    ("setup", "params"),
    [("karate", {}), ("karate_nodes", {"temperature": 2.0, "bias": -0.5})],
)
def test_link_is_bce_of_positive_pairs_against_negatives(
    tmp_path: Path, setup: str, params: dict[str, float]
) -> None:
    trainer = _trainer(tmp_path, setup, {"link": {"weight": 1.0, **params}})
    batch = _encoded(trainer)
    distance = trainer.config.objective.distance
    expected = link_prediction_loss(
        batch.z,
        torch.stack([batch.anchor, batch.positive]),
        _negative_pairs(batch),
        distance=distance,
        temperature=params.get("temperature", 0.5),  # default: the run's
        bias=params.get("bias", 0.0),
    )
    _close(_value(trainer, batch, "link"), expected)


@pytest.mark.parametrize("setup", ["karate", "karate_nodes", "sbm"])
def test_adjacency_reconstructs_the_batch_graph_against_sampled_non_edges(
    tmp_path: Path, setup: str
) -> None:
    params = {"weight": 1.0, "negatives_per_edge": 2, "temperature": 3.0, "bias": 0.1}
    trainer = _trainer(tmp_path, setup, {"adjacency": params})
    batch = _encoded(trainer)
    objective = _objective(trainer, "adjacency")
    generator = torch.Generator()
    generator.set_state(objective.generator.get_state())
    edges = batch.graph_edges()
    expected = sparse_adjacency_reconstruction_loss(
        batch.z,
        edges,
        num_neg_samples=2 * edges.shape[1],
        generator=generator,
        undirected=True,
        distance=trainer.config.objective.distance,
        temperature=3.0,
        bias=0.1,
    )
    _close(_value(trainer, batch, "adjacency"), expected)
    # the objective drew its non-edges from its own generator, as the clone did
    assert torch.equal(objective.generator.get_state(), generator.get_state())
    # and the next call draws other non-edges
    again = _value(trainer, batch, "adjacency")
    assert not torch.allclose(again, expected)


def _dense_laplacian_smoothness(
    z: Tensor, edges: Tensor, weight: Tensor | None, sym: bool
) -> Tensor:
    """``tr(Zᵀ L Z) / |E|`` from a dense symmetric adjacency (both directions of an
    edge merged by max, ``|E|`` undirected edges); ``sym``: ``L_sym`` (isolated rows 0)."""
    n = z.shape[0]
    w = torch.ones(edges.shape[1], dtype=z.dtype) if weight is None else weight.to(z.dtype)
    adj = torch.zeros(n, n, dtype=z.dtype)
    for (i, j), value in zip(edges.T.tolist(), w.tolist(), strict=True):
        adj[i, j] = adj[j, i] = max(float(adj[i, j]), value)
    degree = adj.sum(1)
    if sym:
        inv = torch.where(degree > 0, degree.clamp_min(1e-30).rsqrt(), torch.zeros_like(degree))
        lap = torch.diag((degree > 0).to(z.dtype)) - inv[:, None] * adj * inv[None, :]
    else:
        lap = torch.diag(degree) - adj
    num_edges = int(torch.triu(adj > 0).sum())
    return torch.trace(z.T @ lap @ z) / num_edges


@pytest.mark.parametrize("normalization", ["none", "sym"])
@pytest.mark.parametrize("setup", ["karate", "karate_nodes"])
def test_spectral_is_laplacian_smoothness_of_the_batch_graph(
    tmp_path: Path, setup: str, normalization: Literal["none", "sym"]
) -> None:
    trainer = _trainer(
        tmp_path, setup, {"spectral": {"weight": 1.0, "normalization": normalization}}
    )
    batch = _encoded(trainer)
    edges = batch.graph_edges()
    expected = laplacian_smoothness(
        batch.z, edges, None, normalization=normalization, reduction="mean"
    )
    actual = _value(trainer, batch, "spectral")
    _close(actual, expected)
    dense = _dense_laplacian_smoothness(batch.z, edges, None, normalization == "sym")
    _close(actual, dense, rtol=1e-4, atol=1e-6)


def test_spectral_sym_differs_from_the_unnormalised_laplacian(tmp_path: Path) -> None:
    trainer = _trainer(
        tmp_path,
        "karate_nodes",
        {"spectral": {"weight": 1.0, "normalization": "sym"}},
    )
    batch = _encoded(trainer)
    plain = laplacian_smoothness(batch.z, batch.graph_edges(), None, reduction="mean")
    assert not torch.allclose(_value(trainer, batch, "spectral"), plain)


@pytest.mark.parametrize("setup", ["karate", "karate_nodes"])
def test_spectral_weighted_without_edge_weights_is_a_clear_error(
    tmp_path: Path, setup: str
) -> None:
    # karate has no edge weights: refused when the run is built, not at its first step
    with pytest.raises(
        ConfigError, match=r"objectives\.spectral\.weighted needs a graph with edge"
    ):
        _trainer(tmp_path, setup, {"spectral": {"weight": 1.0, "weighted": True}})


def _weighted_edge_list(tmp_path: Path) -> tuple[Path, dict[tuple[int, int], float]]:
    gen = torch.Generator().manual_seed(0)
    weights: dict[tuple[int, int], float] = {}
    lines = []
    for i in range(12):  # a ring plus chords, weights 0.5..2.5
        for j in (i + 1, i + 5):
            u, v = i, j % 12
            w = round(0.5 + 2.0 * float(torch.rand((), generator=gen)), 3)
            weights[(u, v)] = weights[(v, u)] = w
            lines.append(f"{u}\t{v}\t{w}")
    path = tmp_path / "weighted.tsv"
    path.write_text("\n".join(lines) + "\n")
    return path, weights


def test_spectral_weighted_uses_the_graphs_edge_weights(tmp_path: Path) -> None:
    path, weights = _weighted_edge_list(tmp_path)
    trainer = _trainer(
        tmp_path,
        "karate_nodes",
        {"spectral": {"weight": 1.0, "weighted": True}},
        "data.name=edgelist",
        f"data.path={path}",
    )
    task: Any = trainer.task
    assert task.graph.graph.edge_weight is not None  # the graph has its weights
    batch = _encoded(trainer)
    actual = _value(trainer, batch, "spectral")
    edges = batch.graph_edges()
    items = batch.items
    expected_w = torch.tensor(
        [weights[(int(items[i]), int(items[j]))] for i, j in edges.T.tolist()]
    )
    expected = laplacian_smoothness(batch.z, edges, expected_w, reduction="mean")
    _close(actual, expected)


@pytest.mark.parametrize(
    ("setup", "kind", "hidden"),
    [("karate", "mse", 0), ("karate_nodes", "bce", 0), ("sbm", "mse", 4), ("digits", "mse", 0)],
)
def test_feature_reconstruction_decodes_z_to_the_batch_features(
    tmp_path: Path, setup: str, kind: Literal["mse", "bce"], hidden: int
) -> None:
    params = {"weight": 1.0, "kind": kind, "hidden": hidden}
    trainer = _trainer(tmp_path, setup, {"feature_reconstruction": params})
    batch = _encoded(trainer)
    assert batch.features is not None
    # the batch's features are the encoder's input rows of its items
    encoder: Any = trainer.encoder
    _close(batch.features, encoder.x[batch.items])
    decoder = _objective(trainer, "feature_reconstruction").decoder
    assert isinstance(decoder[-1], torch.nn.Linear)
    assert decoder[-1].out_features == batch.features.shape[1]
    pred = decoder(batch.z)
    expected = feature_reconstruction_loss(pred, batch.features, kind)
    actual = _value(trainer, batch, "feature_reconstruction")
    _close(actual, expected)
    if kind == "mse":
        _close(actual, ((pred - batch.features) ** 2).mean(), rtol=1e-5, atol=1e-7)
    else:
        _close(
            actual, F.binary_cross_entropy_with_logits(pred, batch.features), rtol=1e-5, atol=1e-7
        )


@pytest.mark.parametrize("setup", ["karate", "karate_nodes", "sbm"])
def test_dgi_scores_z_against_the_encoder_on_shuffled_features(tmp_path: Path, setup: str) -> None:
    trainer = _trainer(tmp_path, setup, {"dgi": 1.0})
    corruption = torch.Generator()
    corruption.set_state(_step(trainer).corruption.get_state())
    batch = _encoded(trainer)
    assert batch.z_corrupt is not None and batch.z_corrupt.shape == batch.z.shape
    # the corruption is the encoder on row-shuffled features, the structure kept
    encoder: Any = trainer.encoder
    with torch.no_grad():
        if setup == "karate":  # an MLP over the batch's rows
            x = encoder.x[batch.items]
            z_corrupt = encoder.mlp(x[torch.randperm(x.shape[0], generator=corruption)])
        elif setup == "karate_nodes":  # the full graph, every node's features shuffled
            x = encoder.x[torch.randperm(encoder.x.shape[0], generator=corruption)]
            z_corrupt = encoder.gnn(x, encoder.edge_index)[batch.items]
        else:  # the sampled subgraph's rows shuffled
            x = encoder.x[batch.items]
            perm = torch.randperm(x.shape[0], generator=corruption)
            z_corrupt = encoder.gnn(x[perm], batch.encoder_input)
    _close(batch.z_corrupt, z_corrupt)
    weight = _objective(trainer, "dgi").loss.weight
    expected = dgi_loss(batch.z, batch.z_corrupt, torch.sigmoid(batch.z.mean(0)), weight)
    actual = _value(trainer, batch, "dgi")
    _close(actual, expected)
    ws = weight @ torch.sigmoid(batch.z.mean(0))
    by_hand = -F.logsigmoid(batch.z @ ws).mean() - F.logsigmoid(-(batch.z_corrupt @ ws)).mean()
    _close(actual, by_hand, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("setup", ["karate", "karate_nodes"])
def test_distance_preservation_is_stress_against_hop_counts(tmp_path: Path, setup: str) -> None:
    params = {"weight": 1.0, "max_hops": 3}
    trainer = _trainer(tmp_path, setup, {"distance_preservation": params})
    batch = _encoded(trainer)
    pairs, hops = _hop_pairs(batch.graph_edges(), batch.z.shape[0], 3)
    expected = distance_preservation_loss(
        batch.z, pairs, hops.to(batch.z.dtype), distance="euclidean", normalized=True
    )
    actual = _value(trainer, batch, "distance_preservation")
    _close(actual, expected, rtol=1e-5, atol=1e-6)
    d = (batch.z[pairs[0]] - batch.z[pairs[1]]).norm(dim=1)
    t = hops.to(batch.z.dtype)
    _close(actual, (((d - t) / t) ** 2).mean(), rtol=1e-4, atol=1e-6)


# ---- regularisers and heads ----------------------------------------------------------
@pytest.mark.parametrize(("target", "expected_target"), [(None, 0.75), (2.0, 2.0)])
def test_norm_pulls_row_norms_to_the_target(
    tmp_path: Path, target: float | None, expected_target: float
) -> None:
    params: dict[str, Any] = {"weight": 1.0}
    if target is not None:
        params["target"] = target
    trainer = _trainer(tmp_path, "karate", {"norm": params}, "objective.norm_target=0.75")
    batch = _encoded(trainer)
    actual = _value(trainer, batch, "norm")
    _close(actual, embedding_norm_penalty(batch.z, expected_target))
    _close(actual, ((batch.z.norm(dim=1) - expected_target) ** 2).mean())


@pytest.mark.parametrize("setup", ["karate", "sbm"])
def test_orthogonality_is_the_gram_deviation(tmp_path: Path, setup: str) -> None:
    trainer = _trainer(tmp_path, setup, {"orthogonality": 1.0})
    batch = _encoded(trainer)
    actual = _value(trainer, batch, "orthogonality")
    _close(actual, feature_orthogonality(batch.z))
    z = batch.z
    d = z.shape[1]
    _close(actual, ((z.T @ z / z.shape[0] - torch.eye(d)) ** 2).sum() / d**2)


@pytest.mark.parametrize("setup", ["karate", "digits"])
def test_sparsity_is_the_mean_row_l1_norm(tmp_path: Path, setup: str) -> None:
    trainer = _trainer(tmp_path, setup, {"sparsity": 1.0})
    batch = _encoded(trainer)
    actual = _value(trainer, batch, "sparsity")
    _close(actual, l1_sparsity(batch.z))
    _close(actual, batch.z.abs().sum(1).mean())


@pytest.mark.parametrize("setup", ["karate_nodes", "sbm"])
def test_node_classification_is_cross_entropy_of_the_head_on_labelled_rows(
    tmp_path: Path, setup: str
) -> None:
    trainer = _trainer(tmp_path, setup, {"node_classification": 1.0}, "nodes.label_fraction=0.5")
    batch = _encoded(trainer)
    assert batch.labels is not None and batch.label_mask is not None
    task: Any = trainer.task
    y = task.graph.graph.y
    assert y is not None
    # the batch's labels are the graph's on the task's labelled half, -1 elsewhere
    visible = batch.label_mask
    assert torch.equal(batch.labels[visible], y[batch.items][visible].long())
    assert bool((batch.labels[~visible] == -1).all())
    assert 0 < int(visible.sum()) < batch.items.numel()
    head = _objective(trainer, "node_classification").loss.head
    assert head.out_features == int(y.max()) + 1
    logits = head(batch.z)
    actual = _value(trainer, batch, "node_classification")
    _close(actual, node_classification_loss(logits, batch.labels, batch.label_mask))
    keep = visible & (batch.labels >= 0)
    _close(actual, F.cross_entropy(logits[keep], batch.labels[keep]))


# ---- PCGrad ------------------------------------------------------------------------
PCGRAD = [
    "objective.distance=dot",
    "optim.name=sgd",
    "optim.lr=0.1",
    "optim.lr_schedule=constant",
    "loop.batch_size=64",
]
CONFLICTING = {"infonce": 1.0, "norm": {"weight": 1.0, "target": 0.0}}


def _update(
    tmp_path: Path, method: str, objectives: dict[str, Any]
) -> tuple[Trainer, dict[str, Tensor], dict[str, Tensor]]:
    """A trainer's parameters before and after one step on its first 64 relations."""
    trainer = _trainer(
        tmp_path / method, "karate", objectives, *PCGRAD, f"combiner.method={method}"
    )
    before = {n: p.detach().clone() for n, p in trainer.encoder.named_parameters()}
    trainer.train_step(torch.arange(64))
    after = {n: p.detach().clone() for n, p in trainer.encoder.named_parameters()}
    return trainer, before, after


def _flat(params: dict[str, Tensor]) -> Tensor:
    return torch.cat([p.reshape(-1) for p in params.values()])


def _objective_gradients(tmp_path: Path, objectives: dict[str, Any]) -> list[Tensor]:
    """Per-objective gradients (weights applied) on the step's batch, from a fresh trainer."""
    trainer = _trainer(tmp_path / "grads", "karate", objectives, *PCGRAD)
    batch = _step(trainer).encode(trainer.task.batch(torch.arange(64), trainer.sample_context()))
    combined, losses = _step(trainer).losses(batch)
    params = list(trainer.encoder.parameters())
    grads = []
    for name, loss in losses.items():
        weighted = loss * combined.components[name].weight
        g = torch.autograd.grad(weighted, params, retain_graph=True, allow_unused=True)
        grads.append(
            torch.cat(
                [
                    (torch.zeros_like(p) if x is None else x).reshape(-1)
                    for x, p in zip(g, params, strict=True)
                ]
            )
        )
    return grads


def test_pcgrad_projects_conflicting_gradients_out_of_the_update(tmp_path: Path) -> None:
    pc, pc_before, pc_after = _update(tmp_path, "pcgrad", CONFLICTING)
    fixed, fx_before, fx_after = _update(tmp_path, "fixed", CONFLICTING)
    assert pc.schedules.pcgrad is not None and fixed.schedules.pcgrad is None
    assert _step(pc).pcgrad is pc.schedules.pcgrad
    assert torch.equal(_flat(pc_before), _flat(fx_before))  # same seed, same start
    g1, g2 = _objective_gradients(tmp_path, CONFLICTING)
    dot = float(g1 @ g2)
    assert dot < 0, "the objectives must conflict for this test"
    pc_update = _flat(pc_after) - _flat(pc_before)
    fixed_update = _flat(fx_after) - _flat(fx_before)
    assert not torch.allclose(pc_update, fixed_update, rtol=1e-3, atol=1e-6)
    # fixed: the plain sum; pcgrad: each gradient with its component along the other removed
    lr = 0.1
    torch.testing.assert_close(fixed_update, -lr * (g1 + g2), rtol=1e-4, atol=1e-7)
    projected = (g1 - dot / float(g2 @ g2) * g2) + (g2 - dot / float(g1 @ g1) * g1)
    torch.testing.assert_close(pc_update, -lr * projected, rtol=1e-4, atol=1e-7)
    # the projected update no longer opposes either objective's descent direction
    assert float(-pc_update @ g1) >= -1e-9 and float(-pc_update @ g2) >= -1e-9


def test_pcgrad_with_one_objective_is_the_plain_update(tmp_path: Path) -> None:
    single = {"infonce": 1.0}
    pc, pc_before, pc_after = _update(tmp_path, "pcgrad", single)
    _, fx_before, fx_after = _update(tmp_path, "fixed", single)
    assert pc.schedules.pcgrad is not None
    assert torch.equal(_flat(pc_before), _flat(fx_before))
    torch.testing.assert_close(
        _flat(pc_after) - _flat(pc_before), _flat(fx_after) - _flat(fx_before)
    )
    assert not torch.equal(_flat(pc_after), _flat(pc_before))  # the step moved something
