r"""Task streams for continual learning: tasks that arrive one after another, each
adding nodes and relations to one growing graph.

A :class:`TaskStream` is a list of :class:`StreamTask`; task :math:`t` brings new
nodes (global ids never seen before), the relations it trains on (``train_edges``,
anchor -> positive, ``[2, E_t]``) and held-out relations it is evaluated on
(``test_edges``). Node ids are global and increasing: the nodes of task :math:`t`
come after those of tasks :math:`< t`, so a growable table appends their rows.

Three sources:

* :func:`sbm_stream` — a stochastic block model that grows block by block (the
  fast fixture): task :math:`t` adds its blocks, their internal edges and their
  edges to earlier blocks (undirected; both directions train);
* :func:`wordnet_stream` — WordNet nouns split into tasks by lexicographer file
  (``split="lexfile"``) or by subtree (``split="subtree"``): each task's nodes are
  synsets of its file (a seeded sample closed upwards under hypernyms inside the
  file, at most ``max_nodes_per_task``) and its relations the transitive closure of
  the hypernym hierarchy among them (child -> ancestor);
* :func:`edge_file_stream` — edge-list files in order, each file one task: its
  nodes are the ids no earlier file used.

Held-out relations: a seeded ``test_fraction`` of each task's relations, never a
node's last one (every test anchor keeps at least one training relation, so its
row is trained).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from contrastkit._validation import check_edge_index, check_positive_int

__all__ = [
    "StreamTask",
    "TaskStream",
    "edge_file_stream",
    "holdout_split",
    "sbm_stream",
    "validation_stream",
    "wordnet_stream",
]


@dataclass(frozen=True)
class StreamTask:
    """One arriving task.

    Attributes:
        name: e.g. ``"noun.animal"`` or ``"block 2"``.
        nodes: ``[n_t]`` int64 global ids of the nodes this task adds (sorted, new).
        train_edges: ``[2, E_t]`` relations trained on (row 0 anchor, row 1 positive).
        test_edges: ``[2, E'_t]`` held-out relations (one direction for undirected streams).
    """

    name: str
    nodes: Tensor
    train_edges: Tensor
    test_edges: Tensor


@dataclass(frozen=True)
class TaskStream:
    """Tasks in arrival order over ``num_nodes`` global ids.

    ``undirected``: relations are symmetric (ranked in both directions; ``train_edges``
    then hold both). ``features``: optional ``[num_nodes, F]`` node features for an
    inductive encoder.
    """

    tasks: list[StreamTask]
    num_nodes: int
    undirected: bool
    features: Tensor | None = None

    def __post_init__(self) -> None:
        if not self.tasks:
            raise ValueError("a task stream needs at least one task")
        seen = torch.zeros(self.num_nodes, dtype=torch.bool)
        for t, task in enumerate(self.tasks):
            if task.nodes.numel() and bool(seen[task.nodes].any()):
                raise ValueError(f"task {t} ({task.name!r}) re-adds nodes of an earlier task")
            seen[task.nodes] = True
            for name, edges in (("train_edges", task.train_edges), ("test_edges", task.test_edges)):
                check_edge_index(f"tasks[{t}].{name}", edges, self.num_nodes)
                if edges.numel() and not bool(seen[edges].all()):
                    raise ValueError(
                        f"task {t} ({task.name!r}) {name} use nodes that have not arrived yet"
                    )
            if task.test_edges.shape[1] == 0:
                raise ValueError(f"task {t} ({task.name!r}) has no held-out relations")

    @property
    def num_tasks(self) -> int:
        return len(self.tasks)

    def nodes_upto(self, t: int) -> Tensor:
        """``[M]`` global ids of the nodes of tasks ``0..t`` (the ids are contiguous)."""
        return torch.arange(self.rows_after(t))

    def rows_after(self, t: int) -> int:
        """Rows a growable table has once task ``t`` arrived."""
        return int(max(int(task.nodes.max()) + 1 for task in self.tasks[: t + 1]))


def holdout_split(
    edges: Tensor, fraction: float, generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """Split ``edges [2, E]`` into ``(train, test)``: a seeded ``fraction`` held out,
    never an anchor's last relation (vectorised: rank each edge inside its anchor's
    group by a random key; an edge is a candidate unless it is its anchor's first)."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {fraction}")
    e = edges.shape[1]
    key = torch.rand(e, generator=generator)
    order = torch.argsort(key)
    anchor = edges[0, order]
    # stable sort by anchor keeps the random order inside each anchor's group
    grouped = order[torch.argsort(anchor, stable=True)]
    a_sorted = edges[0, grouped]
    first = torch.ones(e, dtype=torch.bool)
    first[1:] = a_sorted[1:] != a_sorted[:-1]
    candidates = grouped[~first]
    want = round(fraction * e)
    pick = candidates[torch.randperm(candidates.numel(), generator=generator)[:want]]
    test = torch.zeros(e, dtype=torch.bool)
    test[pick] = True
    return edges[:, ~test], edges[:, test]


def validation_stream(stream: TaskStream, fraction: float = 0.2, seed: int = 1) -> TaskStream:
    """The same stream with each task's held-out relations replaced by a seeded
    ``fraction`` of its training relations (:func:`holdout_split`), trained on the rest:
    settings are chosen on it, never on the test relations. The test relations are
    left out altogether. An undirected stream holds out both directions of a relation."""
    gen = torch.Generator().manual_seed(seed)
    tasks = []
    for task in stream.tasks:
        edges = task.train_edges
        if stream.undirected:
            edges = edges[:, edges[0] < edges[1]]  # one direction of each
        train, held = holdout_split(edges, fraction, gen)
        if stream.undirected:
            train = torch.cat([train, train.flip(0)], 1)
        tasks.append(StreamTask(task.name, task.nodes, train, held))
    return TaskStream(tasks, stream.num_nodes, stream.undirected, stream.features)


def sbm_stream(
    num_tasks: int = 5,
    blocks_per_task: int = 6,
    block_size: int = 10,
    *,
    p_in: float = 0.5,
    p_out: float = 0.002,
    test_fraction: float = 0.2,
    feature_dim: int = 0,
    seed: int = 0,
) -> TaskStream:
    """A planted-partition SBM of ``num_tasks * blocks_per_task`` blocks of ``block_size``
    nodes that grows block by block: task ``t`` adds blocks
    ``t * blocks_per_task .. (t + 1) * blocks_per_task - 1``, their internal edges and
    their edges to earlier nodes; held out: ``test_fraction`` of its edges inside its
    blocks. ``feature_dim > 0`` adds noisy block-indicator features ``[N, F]`` (a random
    projection of the block one-hot, times 2, plus unit Gaussian noise) for an
    inductive encoder."""
    from contrastkit.data.sbm import planted_partition

    check_positive_int("num_tasks", num_tasks)
    check_positive_int("blocks_per_task", blocks_per_task)
    check_positive_int("block_size", block_size)
    gen = torch.Generator().manual_seed(seed)
    num_blocks = num_tasks * blocks_per_task
    per_task = blocks_per_task * block_size
    n = num_tasks * per_task
    graph = planted_partition(n, num_blocks, p_in=p_in, p_out=p_out, generator=gen)
    ei = graph.edge_index
    ei = ei[:, ei[0] < ei[1]]  # one direction of every undirected edge
    block = graph.y[ei] if graph.y is not None else torch.div(ei, block_size, rounding_mode="floor")
    owner = torch.div(
        ei.max(0).values, per_task, rounding_mode="floor"
    )  # arrives with its later end
    internal = block[0] == block[1]
    tasks = []
    for t in range(num_tasks):
        mine = owner == t
        train_in, test = holdout_split(ei[:, mine & internal], test_fraction, gen)
        train = torch.cat([train_in, ei[:, mine & ~internal]], 1)
        tasks.append(
            StreamTask(
                name=f"blocks {t * blocks_per_task}-{(t + 1) * blocks_per_task - 1}",
                nodes=torch.arange(t * per_task, (t + 1) * per_task),
                train_edges=torch.cat([train, train.flip(0)], 1),
                test_edges=test,
            )
        )
    features = None
    if feature_dim > 0:
        labels = graph.y if graph.y is not None else torch.arange(n) // block_size
        proj = torch.randn(num_blocks, feature_dim, generator=gen)
        features = proj[labels] * 2.0 + torch.randn(n, feature_dim, generator=gen)
    return TaskStream(tasks, n, undirected=True, features=features)


def _upward_closed_sample(
    closure: Tensor, members: Tensor, cap: int, generator: torch.Generator
) -> Tensor:
    """Sorted ids: seeded members of ``members`` plus their ancestors among ``members``
    (``closure`` child -> ancestor), as many seeds as keep the set within ``cap``."""
    if members.numel() <= cap:
        return members
    n = int(max(int(closure.max()), int(members.max()))) + 1
    is_member = torch.zeros(n, dtype=torch.bool)
    is_member[members] = True
    inside = closure[:, is_member[closure[0]] & is_member[closure[1]]]
    order = members[torch.randperm(members.numel(), generator=generator)]
    seed_rank = torch.full((n,), members.numel(), dtype=torch.int64)
    seed_rank[order] = torch.arange(order.numel())
    # a node joins once its first seed joins: itself, or its earliest-ranked descendant
    join = seed_rank.clone()
    join.scatter_reduce_(0, inside[1], seed_rank[inside[0]], reduce="amin")
    join_rank = join[members]
    # the number of seeds k keeps |{v : join[v] < k}| <= cap: the cap-th smallest join
    k = int(torch.sort(join_rank).values[cap])  # nodes joining at rank < k number <= cap
    return torch.sort(members[join_rank < k]).values


def wordnet_stream(
    groups: Sequence[str] = (
        "noun.animal",
        "noun.plant",
        "noun.artifact",
        "noun.food",
        "noun.person",
    ),
    *,
    split: str = "lexfile",
    max_nodes_per_task: int = 400,
    test_fraction: float = 0.2,
    seed: int = 0,
    shared_ancestors: bool = False,
    gloss_features: bool = False,
    root: str | os.PathLike[str] | None = None,
) -> TaskStream:
    """WordNet nouns as a stream of ``len(groups)`` tasks.

    ``split="lexfile"``: ``groups`` name lexicographer files (``noun.animal``...);
    ``split="subtree"``: synset names whose subtrees are the tasks (``mammal.n.01``...;
    a node under two roots belongs to the first). Each task: a seeded sample of at most
    ``max_nodes_per_task`` of its synsets, closed upwards inside the task, and the
    transitive closure of the hierarchy among them (child -> ancestor). Node ids are
    renumbered task by task (``0..N-1``).

    ``shared_ancestors`` (default False): a task also brings the ancestors of its
    sample outside its group that no earlier task brought (``entity.n.01``,
    ``organism.n.01``, ...), and its relations include those from its nodes to
    ancestors an earlier task brought. Later tasks then train relations into earlier
    tasks' upper nodes, as a growing hierarchy does; False keeps every task's
    relations inside it (the default).

    ``gloss_features``: node features ``[N, 384]`` for an inductive encoder, the packaged
    all-MiniLM-L6-v2 (:class:`~contrastkit.models.text.TextEncoder`, 32 tokens) over
    ``"<first lemma>: <gloss>"`` of every node (about a minute for 2,000 nodes on 2 cores)."""
    from contrastkit.data.closure import transitive_closure
    from contrastkit.data.wordnet import load_wordnet_nouns

    if split not in ("lexfile", "subtree"):
        raise ValueError(f"split must be 'lexfile' or 'subtree', got {split!r}")
    if not groups:
        raise ValueError("groups must name at least one lexicographer file or subtree root")
    check_positive_int("max_nodes_per_task", max_nodes_per_task)
    nouns = load_wordnet_nouns(root)
    closure = transitive_closure(nouns.hierarchy_edges(), nouns.num_nodes)
    gen = torch.Generator().manual_seed(seed)
    taken = torch.zeros(nouns.num_nodes, dtype=torch.bool)
    picked: list[Tensor] = []
    for g in groups:
        if split == "lexfile":
            if g not in nouns.lexnames:
                raise ValueError(
                    f"groups: {g!r} is not a noun lexicographer file ({nouns.lexnames[:3]}...)"
                )
            members = torch.nonzero(nouns.lexclass == nouns.lexnames.index(g)).flatten()
        else:
            r = nouns.index(g)
            members = torch.cat([torch.tensor([r]), closure[0][closure[1] == r]]).unique()
        members = members[~taken[members]]
        if members.numel() < 2:
            raise ValueError(f"groups: {g!r} has fewer than 2 synsets not in an earlier task")
        nodes = _upward_closed_sample(closure, members, max_nodes_per_task, gen)
        if shared_ancestors:
            sampled = torch.zeros(nouns.num_nodes, dtype=torch.bool)
            sampled[nodes] = True
            above = closure[1][sampled[closure[0]]].unique()
            nodes = torch.cat([nodes, above[~taken[above] & ~sampled[above]]]).sort().values
        taken[nodes] = True
        picked.append(nodes)
    # renumber task by task so that each task's nodes are the next rows
    new_id = torch.full((nouns.num_nodes,), -1, dtype=torch.int64)
    all_nodes = torch.cat(picked)
    new_id[all_nodes] = torch.arange(all_nodes.numel())
    tasks = []
    present = torch.zeros(nouns.num_nodes, dtype=torch.bool)
    for g, nodes in zip(groups, picked, strict=True):
        mask = torch.zeros(nouns.num_nodes, dtype=torch.bool)
        mask[nodes] = True
        present |= mask
        target = present if shared_ancestors else mask
        rel = closure[:, mask[closure[0]] & target[closure[1]]]
        train, test = holdout_split(new_id[rel], test_fraction, gen)
        tasks.append(StreamTask(g, torch.sort(new_id[nodes]).values, train, test))
    features = None
    if gloss_features:
        from contrastkit.models.text import TextEncoder

        texts = [
            f"{nouns.lemmas[i][0].replace('_', ' ')}: {nouns.glosses[i]}"
            for i in all_nodes.tolist()
        ]
        with torch.no_grad():
            features = TextEncoder(max_seq_length=32).encode(texts, batch_size=128).float()
    return TaskStream(tasks, int(all_nodes.numel()), undirected=False, features=features)


def edge_file_stream(
    paths: Sequence[str | os.PathLike[str]],
    *,
    undirected: bool = False,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> TaskStream:
    """Edge-list files in order, one task each (:func:`~contrastkit.data.edge_files.read_edge_list`
    with integer or string ids, shared across files). A file's new nodes are the ids no
    earlier file used, renumbered in order of first appearance."""
    from contrastkit.data.edge_files import read_edge_list

    if not paths:
        raise ValueError("paths must name at least one edge-list file")
    gen = torch.Generator().manual_seed(seed)
    ids: dict[str, int] = {}
    tasks = []
    for path in paths:
        graph = read_edge_list(path, ids="str")
        names = graph.names or [str(i) for i in range(graph.num_nodes)]
        before = len(ids)
        local = torch.tensor([ids.setdefault(n, len(ids)) for n in names], dtype=torch.int64)
        ei = local[graph.edge_index]
        ei = ei[:, ei[0] != ei[1]]
        if undirected:
            ei = torch.stack([ei.min(0).values, ei.max(0).values]).unique(dim=1)
        train, test = holdout_split(ei, test_fraction, gen)
        if undirected:
            train = torch.cat([train, train.flip(0)], 1)
        tasks.append(StreamTask(str(path), torch.arange(before, len(ids)), train, test))
    return TaskStream(tasks, len(ids), undirected=undirected)
