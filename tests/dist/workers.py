"""What the spawned ranks of tests/dist run (importable by the child processes)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

from contrastkit.dist.collectives import all_reduce_mean
from contrastkit.functional.distances import get_distance
from contrastkit.objectives.batch import Batch
from contrastkit.objectives.entries_contrastive import (
    InfoNCEObjective,
    InfoNCEParams,
    MNRObjective,
    MNRParams,
)
from contrastkit.objectives.registry import Objective, ObjectiveContext
from contrastkit.train.distributed_step import (
    DistributedAutogradStep,
    average_gradients_,
    wrap_encoder,
)
from contrastkit.train.encoders import FeatureEncoder, NodeEncoder

NUM_ITEMS, FEATURES, DIM, PER_RANK, K = 20, 6, 5, 4, 2


@dataclass(frozen=True)
class Case:
    name: str
    objective: str  # infonce | mnr
    params: dict[str, Any]
    distance: str = "cosine"
    hard: bool = False  # the batch carries hard-negative columns
    encoder: str = "mlp"  # mlp | table (a free embedding table, sparse gradients)


CASES = [
    Case("infonce_in_batch", "infonce", {"in_batch": True}),
    Case(
        "infonce_symmetric_sqeuclid",
        "infonce",
        {"in_batch": True, "symmetric": True},
        "sqeuclidean",
    ),
    Case("infonce_multi_positive", "infonce", {"in_batch": True, "multi_positive": True}),
    Case(
        "infonce_learnable_t",
        "infonce",
        {"in_batch": True, "temperature": 0.3, "learnable_temperature": True},
        "dot",
    ),
    Case("infonce_hard_columns", "infonce", {}, hard=True),
    Case("mnr", "mnr", {"hard_negatives": False}),
    Case("mnr_hard", "mnr", {}, hard=True),
    Case("mnr_hard_symmetric", "mnr", {"symmetric": True}, hard=True),
    Case("infonce_table_sparse_grad", "infonce", {"in_batch": True}, encoder="table"),
]


def data() -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Features ``[N, F]`` and labels ``[N]`` of the items; a global batch of 2 x 4
    pairs ``u, v [8]`` with hard negatives ``[8, K]`` and their mask: positive item 3
    is drawn on both ranks (rows 1 and 5), label classes repeat across ranks."""
    gen = torch.Generator().manual_seed(7)
    x = torch.randn(NUM_ITEMS, FEATURES, generator=gen, dtype=torch.float64)
    labels = torch.arange(NUM_ITEMS) // 4
    labels[NUM_ITEMS - 2 :] = -1  # two unlabelled items
    u = torch.tensor([0, 4, 8, 12, 1, 5, 18, 13])
    v = torch.tensor([2, 3, 9, 19, 6, 3, 10, 14])
    negatives = torch.tensor(
        [[5, 7], [11, 2], [16, 17], [1, 3], [9, 0], [12, 15], [4, 4], [17, 19]]
    )
    mask = torch.ones(8, K, dtype=torch.bool)
    mask[2, 1] = mask[6, 0] = False
    return x, labels, u, v, negatives, mask


def make_encoder(x: Tensor, kind: str = "mlp") -> NodeEncoder:
    torch.manual_seed(0)
    if kind == "table":
        from contrastkit.models.embedding import EmbeddingTable
        from contrastkit.train.encoders import TableEncoder

        gen = torch.Generator().manual_seed(0)
        table = EmbeddingTable(
            NUM_ITEMS, DIM, init_scale=0.5, sparse=True, dtype=torch.float64, generator=gen
        )
        return TableEncoder(table)
    mlp = nn.Sequential(nn.Linear(FEATURES, 8), nn.Tanh(), nn.Linear(8, DIM)).double()
    return FeatureEncoder(mlp, x)


def make_objective(case: Case, gather: str) -> Objective:
    ctx = ObjectiveContext(
        distance=get_distance(case.distance),
        dim=DIM,
        num_items=NUM_ITEMS,
        temperature=0.5,
        gather=gather,
    )
    if case.objective == "mnr":
        return MNRObjective(MNRParams(**case.params), ctx)
    return InfoNCEObjective(InfoNCEParams(**case.params), ctx).double()


def make_batch(rows: slice, hard: bool) -> Batch:
    _, labels, u, v, negatives, mask = data()
    neg, m = negatives[rows], mask[rows]
    if not hard:
        b = u[rows].numel()
        neg, m = torch.empty(b, 0, dtype=torch.long), torch.empty(b, 0, dtype=torch.bool)
    batch = Batch.from_ids(u[rows], v[rows], neg, m, temperature=0.5)
    batch.labels = labels[batch.items]
    return batch


def loss_and_grads(case: Case, gather: str, rows: slice, ddp: bool) -> tuple[float, list[Tensor]]:
    """The loss and the gradients of every parameter (encoder, then objective) after
    DDP's all-reduce (``ddp``) or in one process."""
    x = data()[0]
    encoder, objective = make_encoder(x, case.encoder), make_objective(case, gather)
    batch = make_batch(rows, case.hard)
    wrapped = wrap_encoder(encoder, False) if ddp else None  # kept: its hooks all-reduce
    z = encoder.encode(batch) if wrapped is None else wrapped(batch)[0]
    loss = objective(batch.with_z(z))
    loss.backward()
    params = list(encoder.parameters()) + list(objective.parameters())
    if ddp:
        # what DistributedAutogradStep averages by hand: beside DDP's, or all of them
        average_gradients_(list(objective.parameters()) if wrapped else params)
        value = all_reduce_mean({"loss": float(loss.detach())})["loss"]
    else:
        value = float(loss.detach())
    grads = [p.grad.detach() for p in params if p.grad is not None]
    return value, [(g.to_dense() if g.is_sparse else g).clone() for g in grads]


# ---- the sparse table step ------------------------------------------------------------
TABLE_ROWS, TABLE_DIM, RELATIONS, TABLE_NEGATIVES = 30, 4, 6, 3


def relation_batches(steps: int) -> list[tuple[Tensor, Tensor, Tensor, Tensor]]:
    """``steps`` global relation batches ``(u, v, negatives [2 R, K], mask)`` over a
    table of :data:`TABLE_ROWS` rows (rows repeat within and across ranks)."""
    gen = torch.Generator().manual_seed(11)
    out = []
    for _ in range(steps):
        u = torch.randint(0, TABLE_ROWS, (2 * RELATIONS,), generator=gen)
        v = torch.randint(0, TABLE_ROWS, (2 * RELATIONS,), generator=gen)
        neg = torch.randint(0, TABLE_ROWS, (2 * RELATIONS, TABLE_NEGATIVES), generator=gen)
        mask = torch.rand(2 * RELATIONS, TABLE_NEGATIVES, generator=gen) > 0.2
        out.append((u, v, neg, mask))
    return out


def sparse_run(rows: slice, steps: int, distributed: bool, optimizer: str) -> Tensor:
    """The Poincaré table (float64) after ``steps`` sparse steps on ``rows`` of each
    global relation batch (rank share, or all of it in one process)."""
    from contrastkit.losses.weighting import CombinedLoss, LossComponent
    from contrastkit.mining.relation_sampler import RelationNegatives
    from contrastkit.models.embedding import EmbeddingTable
    from contrastkit.objectives.batch import RelationIds
    from contrastkit.optim.row_adagrad import RowAdagrad
    from contrastkit.train.distributed_step import DistributedSparseStep
    from contrastkit.train.encoders import TableEncoder
    from contrastkit.train.step import SparseStep
    from contrastkit.train.table_step import SparseTableStep

    table = EmbeddingTable(
        TABLE_ROWS,
        TABLE_DIM,
        manifold="poincare",
        init_scale=0.3,
        dtype=torch.float64,
        generator=torch.Generator().manual_seed(3),
    )
    encoder = TableEncoder(table)
    opt: torch.optim.Optimizer
    if optimizer == "radagrad":
        opt = RowAdagrad([table.weight], lr=0.1)
    else:
        opt = torch.optim.SGD([table.weight], lr=0.1)

    def combine(losses: dict[str, Tensor]) -> CombinedLoss:
        loss = losses["infonce"]
        value = float(loss.detach())
        return CombinedLoss(loss, {"infonce": LossComponent(value, 1.0, value)})

    table_step = SparseTableStep(table, get_distance("poincare"))
    step: SparseStep = SparseStep(table_step, encoder, combine, opt)
    if distributed:
        step = DistributedSparseStep(step)
    for u, v, neg, mask in relation_batches(steps):
        nb = RelationNegatives(mask=mask[rows], own=neg[rows])
        batch = Batch.from_ids(u[rows], v[rows], neg[rows], mask[rows], 1.0)
        batch.relations = RelationIds(u[rows], v[rows], nb)
        out = step.compute(batch)
        step.apply(out, lr=0.1)
    return table.weight.detach().clone()


# ---- gradient caching: one synchronisation per step ------------------------------------
def grad_cache_syncs(rank: int, chunks: int) -> tuple[int, list[Tensor]]:
    """DDP all-reduce rounds (a counting comm hook) in one gradient-cached step of
    in-batch InfoNCE with ``chunks`` chunks, and the gradients after it."""

    from contrastkit.losses.weighting import CombinedLoss, LossComponent
    from contrastkit.train.step import AutogradStep

    x = data()[0]
    encoder = make_encoder(x)
    objective = make_objective(CASES[0], "local")
    objectives = nn.ModuleDict({"infonce": objective})

    def combine(losses: dict[str, Tensor]) -> CombinedLoss:
        loss = losses["infonce"]
        value = float(loss.detach())
        return CombinedLoss(loss, {"infonce": LossComponent(value, 1.0, value)})

    opt = torch.optim.SGD(encoder.parameters(), lr=0.1)
    base = AutogradStep(encoder, objectives, combine, opt, grad_cache_chunks=chunks)
    step = DistributedAutogradStep(base)
    calls = count_bucket_allreduces(step.ddp)
    rows = slice(rank * PER_RANK, (rank + 1) * PER_RANK)
    step.compute(make_batch(rows, hard=False))
    return calls[0], [p.grad.detach().clone() for p in encoder.parameters()]


# ---- PCGrad under DDP -----------------------------------------------------------------
class PairPush(Objective):
    """Mean over the (local) anchors of ``-||z_a - z_p||²``: pushes each pair apart,
    against InfoNCE's pull (gradient cosine about -0.5 here); a mean over anchors, so
    its average over ranks is the combined batch's."""

    def forward(self, batch: Batch) -> Tensor:
        return -(batch.anchors() - batch.positives()).pow(2).sum(1).mean()


PCGRAD_STEPS = 4


def pcgrad_steps(rows: slice, distributed: bool) -> dict[str, Any]:
    """:data:`PCGRAD_STEPS` SGD steps of in-batch InfoNCE + :class:`PairPush` under
    PCGrad on ``rows`` of the global batch (a rank's share, or all of it): each step's
    projected gradients, the summed loss (averaged over ranks) and the parameters."""
    from contrastkit.losses.combine import combine_losses
    from contrastkit.losses.pcgrad import PCGrad
    from contrastkit.train.step import AutogradStep

    x = data()[0]
    encoder = make_encoder(x)
    objectives = nn.ModuleDict({"infonce": make_objective(CASES[0], "local"), "push": PairPush()})
    weights = {"infonce": 1.0, "push": 0.5}
    opt = torch.optim.SGD(encoder.parameters(), lr=0.2)
    pc = PCGrad(opt, generator=torch.Generator().manual_seed(3))
    step: AutogradStep = AutogradStep(
        encoder, objectives, lambda losses: combine_losses(losses, weights), opt, pcgrad=pc
    )
    if distributed:
        step = DistributedAutogradStep(step)
    grads, loss = [], []
    for _ in range(PCGRAD_STEPS):
        out = step.compute(make_batch(rows, hard=False))
        g = [p.grad.detach().clone() for p in encoder.parameters()]
        grads.append(g)
        loss.append(float(out.combined.total.detach()))
        step.apply(out, 0.2)
    return {
        "grads": grads,
        "loss": all_reduce_mean({"l": sum(loss)})["l"] if distributed else sum(loss),
        "params": [p.detach().clone() for p in encoder.parameters()],
    }


def plain_sum_grads(rows: slice) -> list[Tensor]:
    """The first step's gradient of the weighted sum (no projection), one process."""
    from contrastkit.losses.combine import combine_losses

    x = data()[0]
    encoder = make_encoder(x)
    objectives = {"infonce": make_objective(CASES[0], "local"), "push": PairPush()}
    batch = make_batch(rows, hard=False)
    batch = batch.with_z(encoder.encode(batch))
    losses = {n: o(batch) for n, o in objectives.items()}
    combine_losses(losses, {"infonce": 1.0, "push": 0.5}).total.backward()
    return [p.grad.detach().clone() for p in encoder.parameters()]


# ---- the hard pool built on rank 0 ---------------------------------------------------------
def pool_refresh(distributed: bool, strategy: str) -> dict[str, Any]:
    """A relation sampler's pool (``hardest``) or clusters (``cluster``) after one
    refresh; under DDP only rank 0 is given the embedding (the others' is noise, which
    the broadcast must override)."""
    from contrastkit.dist.env import rank as current_rank
    from contrastkit.graph.csr import to_csr
    from contrastkit.mining.relation_sampler import RelationNegativeSampler
    from contrastkit.train.distributed_mining import refresh_pool

    gen = torch.Generator().manual_seed(5)
    emb = torch.randn(40, 3, generator=gen, dtype=torch.float64)
    if distributed and current_rank() != 0:
        emb = torch.randn(40, 3, dtype=torch.float64)
    edges = torch.randint(0, 40, (2, 60), generator=gen)
    sampler = RelationNegativeSampler(
        to_csr(edges, num_nodes=40),
        generator=torch.Generator().manual_seed(1),
        pool_size=6,
        num_clusters=4,
    )
    embedded = []

    def embed() -> Tensor:
        embedded.append(1)
        return emb

    if distributed:
        refresh_pool(sampler, embed, get_distance("sqeuclidean"), 7, strategy)
    else:
        sampler.refresh(embed(), get_distance("sqeuclidean"), 7, strategy=strategy)
    return {**sampler.state_dict(), "embedded": len(embedded)}


# ---- collectives per step ---------------------------------------------------------------
def count_bucket_allreduces(ddp: Any) -> list[int]:
    """Registers a comm hook on ``ddp`` (a DistributedDataParallel) that counts its
    bucket all-reduces (they run in C++, out of :func:`counted_collectives`' reach) in
    the returned one-element list, then all-reduces as DDP's default does."""
    from torch.distributed.algorithms.ddp_comm_hooks import default_hooks

    calls = [0]

    def counting(state: object, bucket: Any) -> Any:
        calls[0] += 1
        return default_hooks.allreduce_hook(None, bucket)  # type: ignore[arg-type]

    # DDP checks the hook's annotations as objects (this module's are postponed strings)
    counting.__annotations__ = {
        "state": object,
        "bucket": torch.distributed.GradBucket,
        "return": torch.futures.Future[Tensor],
    }
    ddp.register_comm_hook(None, counting)
    return calls


@contextmanager
def counted_collectives() -> Iterator[dict[str, int]]:
    """Counts the calls of ``torch.distributed``'s collectives made from Python (DDP's
    bucket all-reduces run in C++: count those with a comm hook)."""
    counts: dict[str, int] = {}
    names = (
        "all_gather",
        "all_reduce",
        "all_to_all_single",
        "broadcast",
        "all_gather_object",
        "barrier",
    )
    originals = {name: getattr(dist, name) for name in names}

    def counting(name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            counts[name] = counts.get(name, 0) + 1
            return originals[name](*args, **kwargs)

        return call

    for name in names:
        setattr(dist, name, counting(name))
    try:
        yield counts
    finally:
        for name, fn in originals.items():
            setattr(dist, name, fn)


def riding_gather(rank: int) -> dict[str, Any]:
    """:func:`all_gather_riding` of a float64 ``x`` and riders of every dtype a batch
    carries (ids near 2^62, labels with -1, a bool mask, a float32 signalling-NaN bit
    pattern, bfloat16, a zero-width tensor) against one plain all-gather per tensor, the
    gradient with and without ``grad``, and the collectives it took."""
    from contrastkit.dist.gather import all_gather_riding

    gen = torch.Generator().manual_seed(rank)
    riders = [
        torch.tensor([[2**62 + rank, -1], [7, 2**40]], dtype=torch.long),
        torch.tensor([[rank, -1], [-1, 3]]),
        torch.tensor([[True, False], [rank == 0, True]]),
        torch.tensor([[0x7FA00001 + rank], [-1]], dtype=torch.int32).view(torch.float32),
        torch.randn(2, 3, generator=gen).to(torch.bfloat16),
        torch.empty(2, 0),
    ]
    plain = []
    for t in riders:
        parts = [torch.empty_like(t) for _ in range(2)]
        dist.all_gather(parts, t)
        plain.append(torch.cat(parts))
    w = torch.arange(2 * 2 * 3, dtype=torch.float64).view(4, 3)
    out: dict[str, Any] = {"plain": plain}
    for grad in (True, False):
        x = torch.randn(2, 3, generator=gen, dtype=torch.float64, requires_grad=True)
        with counted_collectives() as counts:
            x_all, gathered = all_gather_riding(x, riders, grad=grad)
        (x_all * w).sum().backward()
        assert x.grad is not None
        out[grad] = {
            "x": x.detach(),
            "x_all": x_all.detach(),
            "grad": x.grad.clone(),
            "riders": gathered,
            "counts": counts,
        }
    return out


def step_collectives(rank: int) -> dict[str, Any]:
    """One DDP step of in-batch InfoNCE with a learnable temperature (a parameter
    outside DDP) and the data-parallel mean of its loss: the collectives made from
    Python, DDP's bucket all-reduces, this rank's loss and the mean."""
    from pathlib import Path

    from contrastkit.losses.weighting import CombinedLoss, LossComponent
    from contrastkit.train.data_parallel import DataParallel
    from contrastkit.train.step import AutogradStep
    from tests.dist.trainer_workers import config_for

    case = next(c for c in CASES if c.name == "infonce_learnable_t")
    x = data()[0]
    encoder, objective = make_encoder(x), make_objective(case, "local")

    def combine(losses: dict[str, Tensor]) -> CombinedLoss:
        loss = losses["infonce"]
        value = float(loss.detach())
        return CombinedLoss(loss, {"infonce": LossComponent(value, 1.0, value)})

    params = list(encoder.parameters()) + list(objective.parameters())
    opt = torch.optim.SGD(params, lr=0.1)
    base_step = AutogradStep(encoder, nn.ModuleDict({"infonce": objective}), combine, opt)
    parallel = DataParallel(config_for(Path("unused")), 156)  # its run dir is not touched
    step = parallel.wrap_step(base_step)
    assert isinstance(step, DistributedAutogradStep)
    assert step.ddp is not None
    buckets = count_bucket_allreduces(step.ddp)
    batch = make_batch(slice(rank * PER_RANK, (rank + 1) * PER_RANK), hard=False)
    with counted_collectives() as counts:
        out = step.compute(batch)
        mean = parallel.mean_loss(out.combined.total)
    return {
        "counts": counts,
        "buckets": buckets[0],
        "loss": float(out.combined.total.detach()),
        "mean": float(mean),
        "temperature_grad": [p.grad.clone() for p in objective.parameters()],
    }


def rank_zero_work(rank: int) -> dict[str, Any]:
    """:func:`~contrastkit.dist.collectives.computed_on_rank_zero`: which ranks ran the
    work, what each received, and the exception each raised when rank 0's failed."""
    from contrastkit.dist.collectives import computed_on_rank_zero

    ran: list[int] = []

    def work() -> dict[str, float]:
        ran.append(rank)
        return {"map": 0.5 + rank, "mean_rank": 3.0}

    got = computed_on_rank_zero(work)

    def fails() -> None:
        ran.append(rank)
        raise ValueError(f"collapsed on rank {rank}")

    try:
        computed_on_rank_zero(fails)
        raised = None
    except ValueError as exc:
        raised = str(exc)
    return {"ran": ran, "got": got, "raised": raised}


def sharded_rankings() -> list[Any]:
    """:func:`~contrastkit.eval.sharded_ranking.sharded_filtered_ranking` of one graph
    under three settings (every rank passes the same embedding)."""
    from contrastkit.eval.sharded_ranking import sharded_filtered_ranking

    gen = torch.Generator().manual_seed(4)
    x = 0.3 * torch.randn(90, 4, generator=gen, dtype=torch.float64)
    edges = torch.randint(0, 90, (2, 400), generator=gen)
    known = torch.randint(0, 90, (2, 100), generator=gen)
    return [
        sharded_filtered_ranking(x, edges, known, distance=d, mode=m, ties=t, chunk_size=8)
        for d, m, t in RANKING_SETTINGS
    ]


RANKING_SETTINGS = [
    ("poincare", "directed", "average"),
    ("cosine", "undirected", "optimistic"),
    ("sqeuclidean", "directed", "pessimistic"),
]


def step_level_worker(rank: int, world: int) -> dict[str, Any]:
    """Everything the step-level tests check, in one 2-rank spawn."""
    rows = slice(rank * RELATIONS, (rank + 1) * RELATIONS)
    share = slice(rank * PER_RANK, (rank + 1) * PER_RANK)
    return {
        "gather": {
            (case.name, mode): loss_and_grads(case, mode, share, ddp=True)
            for case in CASES
            for mode in ("local", "full", "none")
        },
        "sparse": {
            opt: sparse_run(rows, SPARSE_STEPS, distributed=True, optimizer=opt)
            for opt in ("rsgd", "radagrad")
        },
        "grad_cache": {chunks: grad_cache_syncs(rank, chunks) for chunks in (1, 3)},
        "pool": {s: pool_refresh(True, s) for s in ("hardest", "cluster")},
        "riding": riding_gather(rank),
        "collectives": step_collectives(rank),
        "rank_zero": rank_zero_work(rank),
        "pcgrad": pcgrad_steps(share, distributed=True),
        "ranking": sharded_rankings(),
    }


SPARSE_STEPS = 5


# ---- NCCL (a GPU machine) ---------------------------------------------------------------
def nccl_worker(rank: int, world: int) -> dict[str, Any]:
    """The gather with gradients, the gather without, and a DDP step on CUDA."""
    from contrastkit.dist.gather import AllGatherWithGrad, all_gather_no_grad

    device = torch.device("cuda", rank)
    w = torch.arange(world * 4 * 3, dtype=torch.float64, device=device).view(world * 4, 3)
    x = torch.randn(4, 3, dtype=torch.float64, device=device, requires_grad=True)
    y = AllGatherWithGrad.apply(x)
    (y * w).sum().backward()
    assert x.grad is not None
    own = slice(rank * 4, (rank + 1) * 4)
    # every rank's loss reads every rank's rows: this rank's gradient is W times w's slice
    grad_ok = torch.equal(x.grad, world * w[own])
    rows_ok = torch.equal(y[own].detach(), x.detach())
    z = all_gather_no_grad(x)
    no_grad_ok = torch.equal(z[own], x) and z.requires_grad
    x_items = data()[0].to(device)
    encoder = make_encoder(x_items).to(device)
    wrapped = wrap_encoder(encoder, False)
    batch = make_batch(slice(rank * PER_RANK, (rank + 1) * PER_RANK), hard=True)
    batch.items, batch.anchor, batch.positive = (
        batch.items.to(device),
        batch.anchor.to(device),
        batch.positive.to(device),
    )
    z_batch = wrapped(batch)[0]
    z_batch.pow(2).sum().backward()
    grads = [p.grad.cpu() for p in encoder.parameters() if p.grad is not None]
    return {"grad_ok": grad_ok, "rows_ok": rows_ok, "no_grad_ok": no_grad_ok, "grads": grads}
