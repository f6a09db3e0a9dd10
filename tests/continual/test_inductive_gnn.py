"""The inductive GNN encoder of a stream (``encoder.kind: gnn``): a new node's embedding
comes from its features and its known neighbours, no parameters are added as nodes
arrive, the learner reads the graph of the tasks arrived so far, kill and resume is
bit-identical, and the GNN stream learns on the SBM fixture with EWC and replay."""

from __future__ import annotations

import io

import pytest
import torch

from contrastkit.continual.inductive_gnn import StreamGNN, message_graph
from contrastkit.continual.learner import ContinualLearner
from contrastkit.continual.stream import StreamTask
from contrastkit.models.mlp import MLP
from contrastkit.typed_config import ConfigError
from tests.continual.test_learner import Killed, config

GNN = [
    "encoder.kind=gnn",
    "encoder.hidden=16",
    "continual.feature_dim=4",
    "optim.lr=0.01",
]


def _task(train: list[list[int]]) -> StreamTask:
    edges = torch.tensor(train, dtype=torch.int64).T
    return StreamTask("t", torch.arange(0), edges, edges[:, :1])


def test_message_graph_is_both_directions_of_train_edges_deduplicated() -> None:
    tasks = [_task([[0, 1], [1, 0], [2, 2]]), _task([[3, 1], [0, 1]])]
    got = {tuple(e) for e in message_graph(tasks).T.tolist()}
    brute = set()
    for task in tasks:
        for a, b in task.train_edges.T.tolist():
            if a != b:
                brute |= {(a, b), (b, a)}
    assert got == brute
    assert message_graph(tasks).shape[1] == len(brute)  # no duplicates


@pytest.mark.parametrize("conv", ["sage", "gcn", "gat"])
def test_new_node_embedding_depends_on_its_neighbours(conv: str) -> None:
    torch.manual_seed(0)
    features = torch.randn(8, 5)
    enc = StreamGNN(features, 4, hidden=8, layers=2, conv=conv)  # type: ignore[arg-type]
    enc.eval()
    params = [p.detach().clone() for p in enc.parameters()]
    old = torch.tensor([[0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2]])
    enc.attach(4, old)
    before = enc(torch.arange(4))
    # node 4 arrives with an edge to 0; nodes 5..7 arrive alone
    enc.attach(8, torch.cat([old, torch.tensor([[4, 0], [0, 4]])], 1))
    z = enc(torch.arange(8))
    alone = StreamGNN(features, 4, hidden=8, layers=2, conv=conv)  # type: ignore[arg-type]
    alone.load_state_dict(enc.state_dict())
    alone.eval()
    alone.attach(8, torch.cat([old, torch.tensor([[5], [6]])], 1))  # 4 without its edge
    assert not torch.allclose(z[4], alone(torch.tensor([4]))[0])  # its neighbour counts
    assert not torch.allclose(z[0], before[0])  # and it counts for its neighbour
    assert torch.equal(z[3], before[3])  # 3 hops from node 4: a 2-layer GNN cannot tell
    # an edge added later changes a node's embedding again
    enc.attach(8, torch.cat([old, torch.tensor([[4, 0, 4, 7], [0, 4, 7, 4]])], 1))
    assert not torch.allclose(enc(torch.tensor([4]))[0], z[4])
    # no parameters were added for the new nodes
    assert all(torch.equal(a, b) for a, b in zip(params, enc.parameters(), strict=True))
    assert len(params) == len(list(enc.parameters()))


def test_attach_rejects_bad_graphs() -> None:
    enc = StreamGNN(torch.randn(4, 3), 2, hidden=4)
    with pytest.raises(ValueError, match="num_nodes"):
        enc.attach(5, torch.empty(2, 0, dtype=torch.int64))
    with pytest.raises(ValueError, match="edge_index"):
        enc.attach(2, torch.tensor([[0], [3]]))
    with pytest.raises(RuntimeError, match="attach"):
        enc.embed_all()


def test_learner_reads_the_graph_of_the_tasks_arrived_so_far() -> None:
    learner = ContinualLearner(config(*GNN))
    assert isinstance(learner.encoder, StreamGNN)
    n_params = sum(p.numel() for p in learner.encoder.parameters())
    for t in range(3):
        learner._arrive(t)
        enc = learner.encoder
        assert enc.num_nodes == learner.stream.rows_after(t)
        assert torch.equal(enc.edge_index, message_graph(learner.stream.tasks[: t + 1]))
        held_out = {tuple(e) for e in learner.stream.tasks[t].test_edges.T.tolist()}
        assert not held_out & {tuple(e) for e in enc.edge_index.T.tolist()}
        assert sum(p.numel() for p in enc.parameters()) == n_params
    # the stream's features are what the GNN reads (feature_dim columns)
    assert learner.stream.features is not None
    assert torch.equal(learner.encoder.features, learner.stream.features)
    assert learner.stream.features.shape[1] == 4


def test_mlp_path_reads_features_only() -> None:
    learner = ContinualLearner(config("encoder.kind=mlp", "encoder.hidden=16"))
    assert isinstance(learner.encoder, MLP) and learner.features is not None
    rows = torch.tensor([[0, 1, 2], [3, 4, 5]])
    assert torch.equal(learner.embed(rows), learner.encoder(learner.features[rows]))


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (["encoder.kind=text"], "encoder.kind"),
        (["encoder.kind=gnn", "continual.feature_dim=0"], "node features"),
    ],
)
def test_bad_encoder_settings_refused(extra: list[str], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        ContinualLearner(config(*extra))


def test_bad_gnn_kind_refused_by_the_config() -> None:
    with pytest.raises(ConfigError, match=r"encoder\.gnn"):
        config(*GNN, "encoder.gnn=transformer")


def test_kill_and_resume_bit_identical_mid_stream_gnn() -> None:
    # mirrors test_learner's table/mlp resume test for the gnn path (replay and EWC on)
    cfg = config(
        *GNN,
        "encoder.hidden=8",
        "continual.num_tasks=3",
        "continual.passes=3",
        "continual.replay.buffer_fraction=0.2",
        "continual.ewc.lambda_=10",
        "encoder.dropout=0.1",  # the run's RNG state must come back too
        "output.checkpoint_every=5",
    )
    whole = ContinualLearner(cfg)
    whole.fit()
    saved: list[bytes] = []

    def checkpoint(learner: ContinualLearner) -> None:
        buf = io.BytesIO()
        torch.save(learner.state_dict(), buf)
        saved.append(buf.getvalue())
        if learner.task == 1 and learner.batch > 0:  # killed inside the second task
            raise Killed

    with pytest.raises(Killed):
        ContinualLearner(cfg).fit(checkpoint=checkpoint)
    resumed = ContinualLearner(cfg)
    resumed.load_state_dict(torch.load(io.BytesIO(saved[-1]), weights_only=True))
    assert resumed.task == 1 and 0 < resumed.batch
    assert isinstance(resumed.encoder, StreamGNN)
    assert resumed.encoder.num_nodes == resumed.stream.rows_after(1)  # graph re-attached
    resumed.fit()
    for (name, a), b in zip(
        whole.encoder.state_dict().items(), resumed.encoder.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), name
    assert torch.equal(whole.r, resumed.r)
    assert whole.final_metrics == resumed.final_metrics


def test_gnn_stream_learns_and_runs_with_ewc_and_replay() -> None:
    naive = ContinualLearner(config(*GNN))
    m = naive.fit()
    # measured: ACC 0.60 vs 0.36 for the untrained GNN (each task over its own graph)
    assert m["acc"] > float(naive.baseline.mean()) + 0.1, (m, naive.baseline)
    assert float(naive.r.diag().mean()) > float(naive.baseline.mean()) + 0.1
    records: list[dict[str, object]] = []
    both = ContinualLearner(
        config(*GNN, "continual.ewc.lambda_=100", "continual.replay.buffer_fraction=0.1")
    )
    m_both = both.fit(log=records.append)
    assert both.ewc is not None and both.ewc.num_consolidated == both.stream.num_tasks
    assert both.buffer is not None and len(both.buffer) == both.buffer.capacity
    assert any("loss/ewc" in r for r in records)
    assert all(m_both[k] == m_both[k] for k in ("acc", "bwt", "forgetting"))  # not NaN
    assert m_both["acc"] > float(both.baseline.mean()) + 0.05, m_both


def test_gnn_fisher_is_the_mean_of_per_relation_squared_gradients() -> None:
    learner = ContinualLearner(
        config(
            *GNN, "encoder.hidden=8", "continual.ewc.lambda_=1", "continual.ewc.fisher_samples=6"
        )
    )
    learner._arrive(0)
    fisher = learner.consolidate(0)
    # the relations and negatives consolidate drew (its fixed seed), one backward each
    gen = torch.Generator().manual_seed(learner.config.loop.seed + 1000)
    edges = learner.stream.tasks[0].train_edges.T
    rows = learner.blocks(edges[torch.randperm(edges.shape[0], generator=gen)[:6]], gen)
    params = dict(learner.encoder.named_parameters())
    brute = {n: torch.zeros_like(p) for n, p in params.items()}
    for r in rows:
        loss = learner.loss_of_block(learner.encoder(r[None])).mean()
        for (n, _), g in zip(
            params.items(), torch.autograd.grad(loss, list(params.values())), strict=True
        ):
            brute[n] += g.square() / rows.shape[0]
    for n in params:
        torch.testing.assert_close(fisher[n], brute[n], rtol=1e-4, atol=1e-7)
