"""Where a hierarchy embedding loses its MAP: relations to small ancestors, up close.

For relations ``(u, a)`` whose ancestor ``a`` has fewer than ``--max-descendants``
descendants (a leaf's parent, mostly), drawn at random from a run's closure, prints

* their ranks (mean, median, share ranked first), as the reconstruction MAP counts
  them: among every noun that is not an ancestor of ``u``;
* how far ``u`` and ``a`` sit from the rim (``1 - ||x||``) and from each other,
  for all of them, those ranked first and those ranked worse than 10;
* who the *intruders* are, the non-ancestors nearer to ``u`` than ``a``: under ``a``
  (siblings' side), ``u``'s descendants, or elsewhere, by the share of ``u``'s
  ancestors they share;
* with ``--by-size``, over the whole closure (one full reconstruction ranking): the
  ranks of the relations by their ancestor's number of descendants, and the mean AP
  of leaf and inner anchors. A directed ranking puts ``a``'s own descendants among
  its negatives, so an inner node's ancestors must outrank its children, and the
  leaves must then sit farther from their parent than the parent from the root:
  the two kinds of anchors pull the embedding in opposite ways. It also prints the
  ranks by how many levels apart ``u`` and ``a`` are (closure depth), with the share
  of the rank sum each carries.

    python benchmarks/diagnose_hierarchy.py runs/nouns_poincare_d10 [--samples 1500] [--by-size]

The numbers in docs/recipes.md ("What holds the MAP below 0.8") came from this on the
float64 checkpoint of epoch 1799.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch import Tensor

from contrastkit.eval.reconstruction import reconstruction_ranking
from contrastkit.functional.distances import PoincareDistance
from contrastkit.graph.csr import gather_neighbors, has_edge, to_csr
from contrastkit.train import build_task, checkpoint_path, load_checkpoint, resume_config


def _median(x: Tensor) -> float:
    return float(x.double().median()) if x.numel() else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--samples", type=int, default=1500)
    parser.add_argument("--max-descendants", type=int, default=10)
    parser.add_argument("--intruders", type=int, default=200, help="classified per relation")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--by-size", action="store_true", help="ranks by ancestor size too")
    args = parser.parse_args()
    torch.set_num_threads(1)

    config = resume_config(args.run_dir)
    state = load_checkpoint(checkpoint_path(args.run_dir))["trainer"]
    (w,) = [v for k, v in state["encoder"].items() if k.endswith("weight")]
    w = w.double()
    task = build_task(config.data, seed=config.loop.seed, hierarchy=config.hierarchy)
    closure = task.eval_edges  # child -> ancestor
    n = w.shape[0]
    ancestors = to_csr(closure, num_nodes=n)
    descendants = torch.bincount(closure[1], minlength=n)

    small = (descendants[closure[1]] < args.max_descendants).nonzero().flatten()
    gen = torch.Generator().manual_seed(args.seed)
    pick = small[torch.randperm(small.numel(), generator=gen)[: args.samples]]
    u, a = closure[0, pick], closure[1, pick]
    dist = PoincareDistance(eps=min(config.sparse.ball_eps, 1e-5))

    ranks, d_ua = [], []
    kinds = torch.zeros(4 + 2, dtype=torch.float64)  # 4 share quartiles, under a, below u
    for lo in range(0, u.numel(), 100):
        uu, aa = u[lo : lo + 100], a[lo : lo + 100]
        d = dist.pairwise(w[uu], w)  # [S, N]
        d[torch.arange(uu.numel()), uu] = float("inf")
        target = d.gather(1, aa.unsqueeze(1))
        closer = d < target
        node = torch.arange(n).expand_as(closer)
        closer &= ~has_edge(ancestors, uu.unsqueeze(1).expand_as(closer), node)
        ranks.append(closer.sum(1) + 1)
        d_ua.append(target.squeeze(1))
        # the nearest intruders of each relation, classified
        score = torch.where(closer, -d, -torch.inf)
        top = score.topk(min(args.intruders, n), dim=1)
        valid = top.values > -torch.inf
        rows, cols = valid.nonzero(as_tuple=True)
        x = top.indices[rows, cols]
        su, sa = uu[rows], aa[rows]
        under_a = has_edge(ancestors, x, sa)
        below_u = has_edge(ancestors, x, su)
        # shared ancestors: each of x's ancestors looked up among u's
        xs, xa = gather_neighbors(ancestors, x)
        shared = torch.zeros(x.numel(), dtype=torch.float64)
        shared.index_add_(0, xs, has_edge(ancestors, su[xs], xa).double())
        own = (ancestors.rowptr[su + 1] - ancestors.rowptr[su]).clamp_min(1).double()
        quart = (shared / own * 4).long().clamp_max(3)
        elsewhere = ~(under_a | below_u)
        kinds[:4] += torch.bincount(quart[elsewhere], minlength=4).double()
        kinds[4] += float(under_a.sum())
        kinds[5] += float((below_u & ~under_a).sum())

    r = torch.cat(ranks).double()
    gap = torch.cat(d_ua)
    rim_u, rim_a = 1 - w[u].norm(dim=1), 1 - w[a].norm(dim=1)
    print(f"{u.numel()} relations to ancestors with < {args.max_descendants} descendants")
    print(
        f"rank: mean {float(r.mean()):.1f}, median {_median(r):.0f}, "
        f"first {float((r == 1).double().mean()):.1%}"
    )
    for name, m in (("all", r > 0), ("ranked first", r == 1), ("ranked > 10", r > 10)):
        print(
            f"{name:>13}: 1 - |u| {_median(rim_u[m]):.2e}, 1 - |a| {_median(rim_a[m]):.2e}, "
            f"d(u, a) {_median(gap[m]):.2f} (medians)"
        )
    share = kinds / kinds.sum().clamp_min(1)
    labels = [f"elsewhere, sharing {q}/4-{q + 1}/4 of u's ancestors" for q in range(4)]
    labels += ["under a (u's siblings' side)", "u's descendants"]
    for label, value in zip(labels, share, strict=True):
        print(f"intruders {label:>45}: {float(value):.1%}")
    if args.by_size:
        _by_ancestor_size(w, closure, descendants, dist)


def _by_ancestor_size(
    w: Tensor, closure: Tensor, descendants: Tensor, dist: PoincareDistance
) -> None:
    """Ranks of every relation by its ancestor's descendant count; AP of leaf and inner
    anchors (the reconstruction MAP's conventions: directed, self excluded)."""
    result = reconstruction_ranking(w, closure, distance=dist, return_ranks=True)
    assert result.ranks is not None and result.edges is not None
    print(f"MAP {result.map:.4f}, mean rank {result.mean_rank:.2f}")
    size = descendants[result.edges[1]]
    for lo, hi in ((1, 10), (10, 100), (100, 1000), (1000, 10000), (10000, 10**9)):
        m = (size >= lo) & (size < hi)
        if m.any():
            rk = result.ranks[m]
            print(
                f"ancestors with {lo}-{min(hi, 10**5) - 1} descendants: {int(m.sum()):7d} "
                f"relations, mean rank {float(rk.mean()):6.1f}, first "
                f"{float((rk == 1).double().mean()):.1%}"
            )
    # by how many levels apart (closure depth: a node's number of ancestors), with the
    # share of the rank sum each carries: where the mean rank comes from
    depth = torch.bincount(closure[0], minlength=w.shape[0])
    levels = depth[result.edges[0]] - depth[result.edges[1]]
    ranks = result.ranks.double()
    for lo, hi in ((1, 1), (2, 2), (3, 4), (5, 10**9)):
        m = (levels >= lo) & (levels <= hi)
        if m.any():
            span = f"{lo}" if lo == hi else (f"{lo}-{hi}" if hi < 10**9 else f"{lo}+")
            print(
                f"u {span:>3} levels below a: {float(m.double().mean()):6.1%} of relations, "
                f"mean rank {float(ranks[m].mean()):6.1f}, "
                f"{float(ranks[m].sum() / ranks.sum()):6.1%} of the rank sum"
            )
    leaf = descendants[result.anchors] == 0
    ap = result.average_precision
    print(
        f"mean AP: {int(leaf.sum())} leaf anchors {float(ap[leaf].mean()):.3f}, "
        f"{int((~leaf).sum())} inner anchors {float(ap[~leaf].mean()):.3f}"
    )


if __name__ == "__main__":
    main()
