"""Where a link-prediction run loses its MAP, and what a model that saw the links gets.

For a run with ``data.test_fraction > 0`` (``configs/nouns_link_prediction_d10.yaml``),
ranks the held-out relations ``(u, v)`` as the run's ``test/link_map`` does (among ``u``'s
non-relations, the training relations filtered) and prints, for classes of them,
their number, mean and median rank, share ranked first, and the MAP the run would
have if that class alone were ranked first (where the MAP is lost):

* *implied*: ``(u, v)`` is in the transitive closure of the training relations (a path
  ``u -> w -> ... -> v`` of kept relations), so training data alone entails it;
  the rest are not (a direct parent held out, say);
* *inverted*: ``||u|| < ||v||``, the descendant nearer the origin than its ancestor,
  against the depth order a Poincaré hierarchy keeps;
* by the share of ``u``'s ancestors that training kept;
* by how much deeper ``u`` is than ``v`` (closure depth: a node's number of
  ancestors; a gap of 1 is mostly a direct parent), and by ``v``'s own depth.

It also ranks them by a *rule over the training graph*, no embedding: ``w`` scores for
``u`` the share of ``u``'s training descendants that have ``w`` as a training ancestor.
The split keeps every relation of a leaf, so a held-out ancestor of ``u`` is a
training ancestor of ``u``'s leaves: the rule recovers nearly all of them (link MAP
0.999 on the nouns, 0.993 on the mammals). The protocol tests what an embedding
generalises, not what the training graph hides.

``--reference RUN_DIR`` ranks the same held-out relations, with the same filter, by a
run that trained on every relation (``configs/nouns_poincare_d10.yaml``): how well the
embedding *reconstructs* these relations when it is shown them, a ceiling for
predicting them. The split is rebuilt from the link-prediction run's ``data`` config
(seeded, so it is the run's own).

    python benchmarks/diagnose_link_prediction.py runs/nouns_link_prediction_d10 \\
        [--reference runs/nouns_poincare_d10]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor

from contrastkit.data.closure import descendant_overlap, transitive_closure
from contrastkit.eval.reconstruction import filtered_ranking
from contrastkit.functional.distances import PoincareDistance
from contrastkit.graph.csr import has_edge, to_csr
from contrastkit.train import build_task, checkpoint_path, load_checkpoint, resume_config


def load_table(run_dir: Path) -> Tensor:
    """The ``[N, d]`` float64 embedding table of a run's latest checkpoint."""
    state = load_checkpoint(checkpoint_path(run_dir))["trainer"]
    (w,) = [v for k, v in state["encoder"].items() if k.endswith("weight")]
    return w.double()


def map_from_ranks(anchor: Tensor, rank: Tensor) -> float:
    """Mean over anchors of AP, from each relation's rank among the non-relations.

    With an anchor's ranks sorted, :math:`r_1 \\le \\dots \\le r_k`, its ``i``-th relation
    sits at position :math:`r_i - 1 + i` of the full list, so
    :math:`AP = \\frac1k \\sum_i i / (r_i - 1 + i)` (the reconstruction MAP's formula).
    """
    order = torch.argsort(rank, stable=True)
    order = order[torch.argsort(anchor[order], stable=True)]
    a, r = anchor[order], rank[order]
    _, counts = torch.unique_consecutive(a, return_counts=True)
    group = torch.repeat_interleave(torch.arange(counts.numel()), counts)
    first = torch.repeat_interleave(torch.cumsum(counts, 0) - counts, counts)
    i = (torch.arange(a.numel()) - first + 1).double()
    ap = torch.zeros(counts.numel(), dtype=torch.float64).index_add_(0, group, i / (r - 1 + i))
    return float((ap / counts).mean())


def rule_ranks(train: Tensor, test: Tensor, num_nodes: int) -> Tensor:
    """Ranks ``[T]`` of the held-out relations ``test [2, T]`` under the rule
    :math:`s(u, w) = |D(u) \\cap D(w)| / |D(u)|`, ``D`` the training descendants
    (``train [2, E]`` child -> ancestor), among ``u``'s non-relations (train and test
    filtered, ``u`` itself excluded), ties optimistic as ``test/link_map``'s."""
    n = num_nodes
    tr, te = train.numpy(), test.numpy()
    anchors, row = np.unique(te[0], return_inverse=True)
    common, size = descendant_overlap(train, n, anchors)  # [A, N] common descendants
    share = (sp.diags(1.0 / np.maximum(size, 1.0)) @ common).tocoo()
    a, w, val = share.row, share.col, share.data
    related = np.concatenate([tr, te], axis=1)
    keys = np.concatenate([related[0] * n + related[1], anchors * n + anchors])
    comp = ~np.isin(anchors[a] * n + w, keys)
    # count, per held-out relation, its anchor's competitors scoring above it
    key = np.sort(a[comp] * 2.0 + val[comp])  # val <= 1: rows stay apart
    score = np.asarray(share.tocsr()[row, te[1]]).ravel()
    above = np.searchsorted(key, row * 2.0 + 2.0, side="left") - np.searchsorted(
        key, row * 2.0 + score, side="right"
    )
    return torch.from_numpy(1.0 + above)


def report(title: str, edges: Tensor, ranks: Tensor, classes: dict[str, Tensor]) -> None:
    print(
        f"{title}: {edges.shape[1]} held-out relations, MAP {map_from_ranks(edges[0], ranks):.4f}"
        f", mean rank {float(ranks.mean()):.1f}, median {float(ranks.median()):.0f}, "
        f"first {float((ranks == 1).double().mean()):.1%}"
    )
    for name, m in classes.items():
        if not m.any():
            continue
        lifted = torch.where(m, torch.ones_like(ranks), ranks)
        r = ranks[m]
        print(
            f"  {name:>34}: {float(m.double().mean()):6.1%}, mean rank {float(r.mean()):7.1f},"
            f" median {float(r.median()):4.0f}, first {float((r == 1).double().mean()):5.1%},"
            f" MAP if ranked first {map_from_ranks(edges[0], lifted):.4f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run_dir", type=Path, help="a link-prediction run")
    parser.add_argument("--reference", type=Path, help="a run trained on every relation")
    args = parser.parse_args()
    torch.set_num_threads(2)

    config = resume_config(args.run_dir)
    if config.data.test_fraction <= 0:
        raise SystemExit(f"{args.run_dir} is not a link-prediction run (data.test_fraction 0)")
    task = build_task(
        config.data, seed=config.loop.seed, hierarchy=config.hierarchy
    )  # the run's own split
    split = task.split
    assert split is not None
    n = task.graph.num_nodes
    dist = PoincareDistance(eps=config.sparse.ball_eps)

    closure = to_csr(transitive_closure(split.train_pos, n), num_nodes=n)
    all_ancestors = torch.bincount(task.graph.edge_index[0], minlength=n).double()
    kept = torch.bincount(split.train_pos[0], minlength=n).double() / all_ancestors.clamp_min(1)

    ranks = rule_ranks(split.train_pos, split.test_pos, n)
    print(
        f"rule over the training graph (no embedding): MAP "
        f"{map_from_ranks(split.test_pos[0], ranks):.4f}, mean rank {float(ranks.mean()):.2f}, "
        f"first {float((ranks == 1).double().mean()):.1%}"
    )
    tables = {f"link prediction ({args.run_dir})": load_table(args.run_dir)}
    if args.reference is not None:
        tables[f"reference, trained on them ({args.reference})"] = load_table(args.reference)
    for title, w in tables.items():
        result = filtered_ranking(
            w, split.test_pos, split.train_pos, distance=dist, return_ranks=True
        )
        assert result.edges is not None and result.ranks is not None
        e, r = result.edges, result.ranks
        share = kept[e[0]]
        implied = has_edge(closure, e[0], e[1])
        classes = {
            "implied by the training closure": implied,
            "not implied": ~implied,
            "inverted (|u| < |v|)": w[e[0]].norm(dim=1) < w[e[1]].norm(dim=1),
        }
        for lo, hi in ((0.0, 0.2), (0.2, 0.4), (0.4, 0.6), (0.6, 1.01)):
            classes[f"{lo:.0%}-{min(hi, 1.0):.0%} of u's ancestors kept"] = (share >= lo) & (
                share < hi
            )
        # how far apart in the hierarchy, by closure depth (a node's number of ancestors);
        # a gap of 1 is mostly a direct parent
        gap = all_ancestors[e[0]] - all_ancestors[e[1]]
        for lo, hi in ((1, 1), (2, 2), (3, 4), (5, None)):
            top = (gap <= hi) if hi is not None else torch.ones_like(gap, dtype=torch.bool)
            span = f"{lo}" if hi == lo else (f"{lo}-{hi}" if hi is not None else f"{lo}+")
            classes[f"u {span} deeper than v"] = (gap >= lo) & top
        v_depth = all_ancestors[e[1]]
        for lo, hi in ((1, 3), (4, 5), (6, None)):
            top = (v_depth <= hi) if hi is not None else torch.ones_like(v_depth, dtype=torch.bool)
            span = f"{lo}-{hi}" if hi is not None else f"{lo}+"
            classes[f"v at depth {span}"] = (v_depth >= lo) & top
        report(title, e, r, classes)
        # a held-out parent: is it too far out (radius) or elsewhere (direction)?
        radius = 2 * torch.atanh(w.norm(dim=1).clamp(max=1 - 1e-15))
        near = gap == 1
        print(
            f"  u one level deeper than v: median radial gap r(u) - r(v) "
            f"{float((radius[e[0]] - radius[e[1]])[near].median()):.2f} "
            f"(r: hyperbolic distance from the origin)"
        )


if __name__ == "__main__":
    main()
