"""Relations per second of one full Poincaré training step at WordNet-noun scale.

One step: ``B`` relations ``(u, v)`` from an embedding table of ``N`` = 82,115 rows
x ``d`` = 10, ``K`` = 50 uniform negatives per relation, the distance-softmax loss
(Nickel & Kiela 2017), its backward, and a Riemannian SGD update
:math:`x \\leftarrow \\mathrm{proj}(x - \\eta \\tfrac{(1 - \\|x\\|^2)^2}{4} g)`.

* (a) *autograd*: ``info_nce(..., distance="poincare")`` on rows gathered from a dense
  geoopt ``ManifoldParameter``, ``loss.backward()``, geoopt ``RiemannianSGD``;
* (b) *fused, feature-major*: the table kept as ``[d, N]``; the candidates gathered in
  one ``gather`` and handed to :func:`relation_softmax_loss` (the fused
  :class:`RelationScores` kernel) as a ``[B, K + 1, d]`` view; per-row gradient sums
  with ``scatter_add_`` (duplicates accumulate); the update applied to the touched
  rows (with one pass over the table instead once >= 40 % of the rows are touched);
* (c) *fused, row-major*: the same with an ``[N, d]`` table (``index_select`` /
  ``index_add_``), i.e. what a trainer keeping ``nn.Embedding``-style rows gets;
* (d) *shared negatives*: each chunk of ``m`` = 32 relations shares its ``K`` uniform
  negatives (PyTorch-BigGraph's batching; a different sampling scheme, not N&K's), so
  ``m`` times fewer rows are gathered and summed and the negative scores are a ``bmm``.

* (e) *the trainer*: ``Trainer.train_step`` on the real WordNet noun closure with the
  recipe ``configs/nouns_poincare_d10.yaml`` (row-wise Riemannian Adagrad) past
  burn-in, but N&K's per-relation negatives (``miner.shared_negatives = 0``, true
  relations rejected): :class:`~contrastkit.train.table_step.SparseTableStep` (the
  feature-major fused path (b)), schedules, guard; (f) the recipe itself, negatives
  shared by groups of 32 relations (each anchor's true relations masked by
  ``graph.has_edge_grouped``, the loss fused by ``shared_relation_softmax_loss``).
  (e) and (f) keep the table in float32; (g) is the recipe as it is, whose table is
  float64 (``encoder.dtype``), so that it may reach 1e-8 of the ball's rim.
* (h), (i) with ``--hard-stage``: the recipe's hard stage (float64; 5 of the 50
  negatives drawn from each node's pool of its 50 closest non-ancestors, the pool
  mined once before timing): (h) every relation's 50 its own, as the recipe runs it;
  (i) the 45 uniform ones shared by groups of 32 relations, the 5 mined ones each
  relation's own (``shared_relation_softmax_loss``'s ``own_negatives``).

"gather" is the least a step must do: draw the negatives and gather the
``B x (K + 1)`` candidates. Steps are interleaved (a, b, c, gather, a, ...) and
medians printed: the 2-core machine is shared. ``--phases`` prints where (b) spends
its time. The issue's target is 500,000 relations/s at d = 10, K = 50.

    python benchmarks/bench_relation_step.py            # B in {1024, 4096, 16384}, 1 and 2 threads
    python benchmarks/bench_relation_step.py --quick    # fewer repeats (~20 s)
    python benchmarks/bench_relation_step.py --trainer-only   # just (e), (f), (g) (~2 min)
    python benchmarks/bench_relation_step.py --hard-stage     # just (h), (i) (~3 min)

At B = 16384 a ``[B, K + 1, d]`` float32 tensor is 33 MB, above glibc's largest
dynamic mmap threshold (32 MB): every such tensor is mapped fresh and page-faulted on
each step. ``MALLOC_MMAP_THRESHOLD_=1073741824 MALLOC_TRIM_THRESHOLD_=2147483648`` keeps
them on the heap; it speeds up (a) and, less, (b) there (the run prints whether it is set).
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time
from collections.abc import Callable

import torch

from contrastkit.functional.info_nce import info_nce
from contrastkit.functional.relation_loss import relation_softmax_loss
from contrastkit.functional.shared_relation_loss import shared_relation_softmax_loss

N_NODES, DIM, NEGATIVES, TARGET = 82_115, 10, 50, 500_000
BALL_MAX = 1.0 - 1e-5


def rsgd_update_(x: torch.Tensor, g: torch.Tensor, lr: float, dim: int) -> None:
    """In place: x <- proj(x - lr (1 - |x|^2)^2 / 4 g), norms along ``dim``."""
    sq = (x * x).sum(dim, keepdim=True)
    x.addcmul_(g, sq.sub_(1.0).square_().mul_(-0.25 * lr))
    sq = (x * x).sum(dim, keepdim=True)
    x.mul_(BALL_MAX / sq.sqrt_().clamp_min_(BALL_MAX))


class FusedStep:
    """Paths (b) and (c): the fused kernel, per-row gradient sums, Riemannian SGD rows."""

    def __init__(
        self, table: torch.Tensor, lr: float, gen: torch.Generator, feature_major: bool
    ) -> None:
        self.fm = feature_major
        self.dim = 0 if feature_major else 1  # the feature axis of the stored table
        self.table = (table.t() if feature_major else table).contiguous()
        self.lr, self.gen = lr, gen
        self.grad = torch.zeros_like(self.table)
        self.touched = torch.zeros(table.shape[0], dtype=torch.bool)
        self.times: dict[str, list[float]] = {}

    def rows(self) -> int:
        return self.table.shape[1 - self.dim]

    def candidates(self, pos: torch.Tensor, neg: torch.Tensor | None = None) -> torch.Tensor:
        cand = torch.empty(pos.numel(), NEGATIVES + 1, dtype=torch.long)
        cand[:, 0] = pos
        if neg is None:
            cand[:, 1:].random_(0, self.rows(), generator=self.gen)
        else:
            cand[:, 1:] = neg
        return cand.view(-1)

    def gather(self, index: torch.Tensor) -> torch.Tensor:
        """``[d, M]`` (feature-major) or ``[M, d]`` rows of the table."""
        if self.fm:  # an expanded index: parallel over the d planes, unlike index_select
            return torch.gather(self.table, 1, index.expand(self.table.shape[0], -1))
        return self.table.index_select(0, index)

    def add_rows(self, index: torch.Tensor, rows: torch.Tensor) -> None:
        if self.fm:
            self.grad.scatter_add_(1, index.expand(self.table.shape[0], -1), rows)
        else:
            self.grad.index_add_(0, index, rows)

    def _tick(self, name: str, start: float) -> float:
        now = time.perf_counter()
        self.times.setdefault(name, []).append(now - start)
        return now

    def step(
        self, anchor: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor | None = None
    ) -> None:
        b, t = anchor.numel(), time.perf_counter()
        flat = self.candidates(pos, neg)
        t = self._tick("sample", t)
        if self.fm:
            u = self.gather(anchor).t().requires_grad_()
            c = self.gather(flat).view(DIM, b, -1).permute(1, 2, 0).requires_grad_()
        else:
            u = self.gather(anchor).requires_grad_()
            c = self.gather(flat).view(b, -1, DIM).requires_grad_()
        t = self._tick("gather", t)
        loss = relation_softmax_loss(u, c)
        t = self._tick("loss", t)
        gu, gc = torch.autograd.grad(loss, (u, c))
        t = self._tick("backward", t)
        with torch.no_grad():
            # gc is in the table's layout, so both reshapes are views
            self.add_rows(
                flat, gc.permute(2, 0, 1).reshape(DIM, -1) if self.fm else gc.view(-1, DIM)
            )
            self.add_rows(anchor, gu.t() if self.fm else gu)
            t = self._tick("row sums", t)
            self.update(flat, anchor)
            self._tick("update", t)

    def update(self, flat: torch.Tensor, anchor: torch.Tensor) -> None:
        if 2 * (flat.numel() + anchor.numel()) >= self.rows():
            # >= 40 % of the rows touched (1 - exp(-B (K + 2) / N)): one pass over the
            # contiguous table beats finding and gathering them; untouched rows have g = 0
            rsgd_update_(self.table, self.grad, self.lr, self.dim)
            self.grad.zero_()
            return
        self.touched[flat] = True
        self.touched[anchor] = True
        rows = self.touched.nonzero().squeeze(1)
        axis = 1 - self.dim
        x = self.table.index_select(axis, rows)
        rsgd_update_(x, self.grad.index_select(axis, rows), self.lr, self.dim)
        self.table.index_copy_(axis, rows, x)
        self.grad.index_fill_(axis, rows, 0.0)
        self.touched.index_fill_(0, rows, False)

    def weights(self) -> torch.Tensor:
        return self.table.t() if self.fm else self.table


class SharedNegativesStep(FusedStep):
    """Path (d): negatives shared by chunks of ``m`` relations (as PyTorch-BigGraph does):
    ``B / m x K`` rows gathered instead of ``B x K``; the loss is
    :func:`shared_relation_softmax_loss` (negative scores by ``bmm``, fused backward)."""

    def __init__(self, table: torch.Tensor, lr: float, gen: torch.Generator, m: int) -> None:
        super().__init__(table, lr, gen, feature_major=True)
        self.m = m

    def step(
        self, anchor: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor | None = None
    ) -> None:
        b, m = anchor.numel(), self.m
        g = b // m
        neg_ids = torch.randint(0, self.rows(), (g * NEGATIVES,), generator=self.gen)
        u = self.gather(anchor).t().requires_grad_()
        p = self.gather(pos).t().requires_grad_()
        n = self.gather(neg_ids).view(DIM, g, -1).permute(1, 2, 0).requires_grad_()
        loss = shared_relation_softmax_loss(u, p, n)
        gu, gp, gn = torch.autograd.grad(loss, (u, p, n))
        with torch.no_grad():
            self.add_rows(anchor, gu.t())
            self.add_rows(pos, gp.t())
            self.add_rows(neg_ids, gn.permute(2, 0, 1).reshape(DIM, -1))
            self.update(neg_ids, torch.cat([anchor, pos]))


class AutogradStep:
    """Path (a): contrastkit's info_nce + geoopt RiemannianSGD on a dense parameter."""

    def __init__(self, table: torch.Tensor, lr: float, gen: torch.Generator) -> None:
        import geoopt

        self.param = geoopt.ManifoldParameter(table.clone(), manifold=geoopt.PoincareBall())
        self.opt = geoopt.optim.RiemannianSGD([self.param], lr=lr)
        self.gen = gen

    def step(
        self, anchor: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor | None = None
    ) -> None:
        if neg is None:
            shape = (anchor.numel(), NEGATIVES)
            neg = torch.randint(0, self.param.shape[0], shape, generator=self.gen)
        p = self.param
        loss = info_nce(p[anchor], p[pos], p[neg], temperature=1.0, distance="poincare")
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()


def gather_only(step: FusedStep) -> Callable[[torch.Tensor, torch.Tensor], None]:
    def run(anchor: torch.Tensor, pos: torch.Tensor) -> None:
        step.gather(anchor)
        step.gather(step.candidates(pos))

    return run


def check_agreement(table: torch.Tensor, gen: torch.Generator) -> list[float]:
    """Max |difference| to (a) of (b) and (c) after three identical steps."""
    a = AutogradStep(table, 1.0, gen)
    fused = [FusedStep(table, 1.0, gen, fm) for fm in (True, False)]
    for b in (512, 64, 512):  # 64: few rows touched, the sparse update path
        anchor, pos = torch.randint(0, N_NODES, (2, b), generator=gen)
        neg = torch.randint(0, N_NODES, (b, NEGATIVES), generator=gen)
        a.step(anchor, pos, neg)
        for f in fused:
            f.step(anchor, pos, neg)
    return [float((a.param.detach() - f.weights()).abs().max()) for f in fused]


def matmul_gflops() -> float:
    """The machine's float32 GEMM rate now (2048^3, best of 3), in GFLOP/s."""
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    best = math.inf
    for _ in range(3):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * 2048**3 / best / 1e9


# arithmetic of one relation's fused Poincaré step, forward and backward: ~20 flops
# per candidate coordinate (dots, norms, the arcosh chain, their gradients)
FLOPS_PER_RELATION = 20 * (NEGATIVES + 1) * DIM


# the recipe's optimiser (radagrad) for all; (e) draws N&K's per-relation negatives;
# (e) and (f) keep a float32 table, (g) is the recipe as it is (float64)
F32 = ["encoder.dtype=float32", "loop.ball_eps=1.0e-5"]
TRAINER_PATHS: tuple[tuple[str, list[str]], ...] = (
    ("(e) per relation", ["miner.shared_negatives=0", *F32]),
    ("(f) shared/32", F32),
    ("(g) recipe, f64", []),
)
# the recipe's hard stage (float64): 5 of 50 negatives mined from a pool of 50 per node,
# (h) all 50 each relation's own, as the recipe runs it; (i) the 45 uniform ones shared
HARD = ["miner.strategy=mixed", "miner.hard_ratio=0.1", "miner.pool_size=50"]
HARD += ["miner.refresh_every=100000", "miner_stages=[]"]
HARD_STAGE_PATHS: tuple[tuple[str, list[str]], ...] = (
    ("(h) hard, per relation", [*HARD, "miner.shared_negatives=0"]),
    ("(i) hard, shared/32", [*HARD, "miner.shared_negatives=32"]),
)


def trainer_rates(
    batches: list[int],
    threads: list[int],
    rounds: int,
    paths: tuple[tuple[str, list[str]], ...] = TRAINER_PATHS,
) -> None:
    """Relations/s of ``Trainer.train_step`` on the WordNet noun closure for each of
    ``paths`` (name, config overrides of the noun recipe): (e), (f), (g) by default."""
    from pathlib import Path

    from contrastkit.train import Trainer, load_config

    recipe = Path(__file__).resolve().parents[1] / "configs" / "nouns_poincare_d10.yaml"
    trainers = {}
    for name, extra in paths:
        cfg = load_config(recipe, ["loop.progress=false", "loop.log_every=1000000", *extra])
        trainer = Trainer(cfg, run_dir="/tmp/contrastkit-bench-trainer")
        trainer.epoch = cfg.burn_in.epochs  # past burn-in: uniform negatives
        trainers[name] = trainer
    edges = next(iter(trainers.values())).task.graph.train_edges.shape[1]
    gen = torch.Generator().manual_seed(1)
    if paths is HARD_STAGE_PATHS:
        # the first step mines every node's pool (82,115 x 82,115, exact top-50)
        for name, trainer in trainers.items():
            start = time.perf_counter()
            trainer.train_step(torch.randint(0, edges, (batches[0],), generator=gen))
            print(
                f"{name}: first step, with the pool's refresh, {time.perf_counter() - start:.1f} s"
            )
    print(f"\ntrainer on the noun closure ({edges:,} relations), d = {DIM}, K = {NEGATIVES}:")
    print(f"{'threads':>7} {'B':>6} | " + " ".join(f"{n:>18}" for n in trainers) + " | vs target")
    for t in threads:
        torch.set_num_threads(t)
        for b in batches:
            times: dict[str, list[float]] = {n: [] for n in trainers}
            steps = max(2, 65536 // b)
            for _ in range(rounds + 1):
                for name, trainer in trainers.items():
                    idx = torch.randint(0, edges, (steps, b), generator=gen)
                    start = time.perf_counter()
                    for row in idx:
                        trainer.train_step(row)
                    times[name].append((time.perf_counter() - start) / steps)
            rate = {n: b / statistics.median(v[1:]) for n, v in times.items()}
            cells = " ".join(f"{r:>18,.0f}" for r in rate.values())
            ratios = " ".join(f"{r / TARGET:.2f}" for r in rate.values())
            gemm = matmul_gflops()
            share = max(rate.values()) * FLOPS_PER_RELATION / 1e9 / gemm
            print(
                f"{t:>7} {b:>6} | {cells} | {ratios}   (GEMM {gemm:.0f} GFLOP/s; "
                f"the faster path's arithmetic is {share:.1%} of it: gathers bound the step)"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--batch", type=int, nargs="*", default=[1024, 4096, 16384])
    parser.add_argument("--threads", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--phases", action="store_true", help="time the phases of (b)")
    parser.add_argument("--shared", type=int, default=32, help="relations per negative set, (d)")
    parser.add_argument("--trainer-only", action="store_true", help="only (e), (f) and (g)")
    parser.add_argument("--hard-stage", action="store_true", help="only (h) and (i)")
    args = parser.parse_args()
    if args.trainer_only or args.hard_stage:
        paths = HARD_STAGE_PATHS if args.hard_stage else TRAINER_PATHS
        trainer_rates(args.batch, args.threads, 3 if args.quick else 5, paths)
        return
    gen = torch.Generator().manual_seed(0)
    # a table spread over the ball as a trained one is (radii up to ~0.95)
    x = torch.randn(N_NODES, DIM, generator=gen)
    radius = torch.rand(N_NODES, 1, generator=gen) ** 0.5 * 0.95
    table = x / x.norm(dim=1, keepdim=True) * radius
    torch.set_num_threads(1)
    print(f"N = {N_NODES:,}, d = {DIM}, K = {NEGATIVES}; target {TARGET:,} relations/s")
    mmap = os.environ.get("MALLOC_MMAP_THRESHOLD_", "glibc default")
    print(f"MALLOC_MMAP_THRESHOLD_: {mmap}")
    diff_b, diff_c = check_agreement(table, gen)
    print(
        f"max |table difference| to (a) after 3 identical steps: (b) {diff_b:.1e}, (c) {diff_c:.1e}"
    )
    rounds = 3 if args.quick else 7
    print(
        f"{'threads':>7} {'B':>6} | {'(a) autograd':>12} {'(b) fused fm':>12} "
        f"{'(c) fused rm':>12} {f'(d) shared/{args.shared}':>14} {'gather':>10} | "
        f"{'b/a':>5} {'c/a':>5} {'b/target':>8} {'d/target':>8}"
    )
    for threads in args.threads:
        torch.set_num_threads(threads)
        for b in args.batch:
            lr = 0.1 * b  # the loss is a batch mean
            a = AutogradStep(table, lr, gen)
            fm, rm = FusedStep(table, lr, gen, True), FusedStep(table, lr, gen, False)
            shared = SharedNegativesStep(table, lr, gen, args.shared)
            runs: dict[str, Callable[[torch.Tensor, torch.Tensor], None]] = {
                "a": a.step,
                "b": fm.step,
                "c": rm.step,
                "d": shared.step,
                "g": gather_only(fm),
            }
            times: dict[str, list[float]] = {k: [] for k in runs}
            steps = max(1, (16384 if args.quick else 65536) // b)
            for _ in range(rounds + 1):  # the first round warms up
                for name, fn in runs.items():
                    batches = torch.randint(0, N_NODES, (steps, 2, b), generator=gen)
                    start = time.perf_counter()
                    for anchor, pos in batches:
                        fn(anchor, pos)
                    times[name].append((time.perf_counter() - start) / steps)
            rate = {k: b / statistics.median(v[1:]) for k, v in times.items()}
            print(
                f"{threads:>7} {b:>6} | {rate['a']:>12,.0f} {rate['b']:>12,.0f} "
                f"{rate['c']:>12,.0f} {rate['d']:>14,.0f} {rate['g']:>10,.0f} | "
                f"{rate['b'] / rate['a']:>5.1f} {rate['c'] / rate['a']:>5.1f} "
                f"{rate['b'] / TARGET:>8.2f} {rate['d'] / TARGET:>8.2f}"
            )
            if args.phases:
                warm = steps  # drop the warm-up round
                parts = {k: statistics.median(v[warm:]) * 1e3 for k, v in fm.times.items()}
                print("        (b) ms/step: " + ", ".join(f"{k} {v:.2f}" for k, v in parts.items()))
    trainer_rates(args.batch, args.threads, rounds)


if __name__ == "__main__":
    main()
