r"""Online learning over a task stream: local steps, reservoir replay, online EWC, R matrix.

:class:`ContinualLearner` walks a :class:`~contrastkit.continual.stream.TaskStream`:

1. a task arrives: its nodes get rows (a :class:`~contrastkit.continual.growable.GrowableTable`
   grows, rows at their known neighbours' mean, the optimiser state grown with it) or,
   with an ``mlp`` encoder, are encoded from their features, or, with a ``gnn``
   encoder (:class:`~contrastkit.continual.inductive_gnn.StreamGNN`), from their
   features and their known neighbours' (message passing over the training relations
   of the tasks so far; no new parameters);
2. its relations arrive in batches of ``loop.batch_size`` (``passes`` times, reshuffled);
   each batch takes ``local_steps`` optimiser steps of

   .. math::
       L = \frac{1}{|B|} \sum_{x \in B} \ell(x) + L_{replay}(M) + \Omega(\theta)

   where :math:`\ell` is the per-relation InfoNCE
   (:func:`~contrastkit.continual.edge_loss.relation_block_loss`) against uniform
   negatives drawn from every node arrived so far — so later tasks' negatives push the
   rows of earlier ones — :math:`M` relations of earlier tasks drawn afresh from the
   replay memory (``replay.ratio / (1 - replay.ratio)`` per new relation) with
   :math:`L_{replay}` their DER / ER loss (:mod:`~contrastkit.continual.replay`), and
   :math:`\Omega` the online EWC penalty; the first pass offers each relation to the
   reservoir once;
3. at the task's end the replay memory records the logits of the task's stored
   relations (DER's targets), the EWC Fisher of the task is added (row-level for a table,
   :func:`~contrastkit.continual.row_fisher.row_fisher`; per-sample ``vmap(grad)``
   for an encoder, :func:`~contrastkit.losses.fisher.diagonal_fisher`) and row
   :math:`i` of the R matrix is measured: the metric on every task :math:`j`'s
   held-out relations, ranked among the nodes of tasks :math:`\le j` (tasks not yet
   arrived are measured on rows initialised as they would be on arrival; a ``gnn``
   measures task :math:`j` over the graph of tasks :math:`\le \max(i, j)`).

Everything that moves — rows, optimiser, buffer, EWC Fisher and anchors, generator,
position in the stream (task, pass, batch, permutation), R so far — is in
:meth:`state_dict`, so a run killed mid-stream and resumed continues bit-identically.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from contrastkit.continual.edge_loss import relation_block_logits, relation_block_loss
from contrastkit.continual.growable import GrowableTable, neighbour_mean_init
from contrastkit.continual.inductive_gnn import StreamGNN, message_graph
from contrastkit.continual.metrics import forgetting_metrics
from contrastkit.continual.replay import ReplayMemory
from contrastkit.continual.row_fisher import row_fisher
from contrastkit.continual.stream import TaskStream, edge_file_stream, sbm_stream, wordnet_stream
from contrastkit.eval.reconstruction import filtered_ranking
from contrastkit.functional.distances import get_distance
from contrastkit.losses.ewc import EWC
from contrastkit.losses.fisher import diagonal_fisher
from contrastkit.models.mlp import MLP
from contrastkit.optim.factory import build_optimizer
from contrastkit.train.negative_count import warn_excess_negatives
from contrastkit.typed_config import ConfigError

if TYPE_CHECKING:  # the train package imports this package's config
    from contrastkit.train.config import TrainConfig

__all__ = ["ContinualLearner", "build_stream"]

STREAM_DISTANCES = ("cosine", "dot", "sqeuclidean", "euclidean")
#: encoders over node features: new nodes need no new parameters
INDUCTIVE = ("mlp", "gnn")


def build_stream(config: TrainConfig) -> TaskStream:
    """The task stream ``config.continual`` describes, seeded by ``loop.seed``."""
    c, seed = config.continual, config.loop.seed
    if c.stream == "sbm":
        feature_dim = c.feature_dim if config.encoder.kind in INDUCTIVE else 0
        return sbm_stream(
            c.num_tasks, c.blocks_per_task, c.block_size, p_in=c.p_in, p_out=c.p_out,
            test_fraction=c.test_fraction, feature_dim=feature_dim, seed=seed,
        )  # fmt: skip
    if c.stream == "wordnet":
        # the WordNet directory as every WordNet source takes it: data.path with
        # data.name wordnet_nouns (unset: $CONTRASTKIT_WORDNET_DIR or /usr/share/wordnet)
        root = config.data.path if config.data.name == "wordnet_nouns" else None
        return wordnet_stream(
            c.groups[: c.num_tasks], split=c.split, max_nodes_per_task=c.max_nodes_per_task,
            test_fraction=c.test_fraction, seed=seed, shared_ancestors=c.shared_ancestors,
            gloss_features=config.encoder.kind in INDUCTIVE, root=root,
        )  # fmt: skip
    return edge_file_stream(
        c.files[: c.num_tasks], undirected=c.undirected, test_fraction=c.test_fraction, seed=seed
    )


class ContinualLearner:
    """Learn ``config``'s task stream online (module docstring); :meth:`fit` runs it."""

    def __init__(self, config: TrainConfig, stream: TaskStream | None = None) -> None:
        self.config = config
        c, loop = config.continual, config.loop
        if config.objective.distance not in STREAM_DISTANCES:
            raise ConfigError(
                f"objective.distance {config.objective.distance!r} is not one a stream trains "
                f"with; use one of {', '.join(STREAM_DISTANCES)}"
            )
        if config.encoder.kind not in ("embedding", *INDUCTIVE):
            raise ConfigError(
                f"encoder.kind must be 'embedding', 'mlp' or 'gnn' for a continual run, "
                f"got {config.encoder.kind!r}"
            )
        if loop.num_threads > 0:
            torch.set_num_threads(loop.num_threads)
        torch.manual_seed(loop.seed)
        self.stream = stream if stream is not None else build_stream(config)
        first = self.stream.rows_after(0)  # the fewest rows negatives are drawn among
        warn_excess_negatives(
            "continual.num_negatives",
            c.num_negatives,
            first - 1,
            f"negatives an anchor of the first task's {first} nodes can have "
            "(every node but itself)",
            "its negatives repeat nodes until later tasks add nodes",
            stacklevel=2,
        )
        self.distance = get_distance(config.objective.distance)
        self.loss_of_block = partial(
            relation_block_loss, distance=self.distance, temperature=config.objective.temperature
        )
        self.generator = torch.Generator().manual_seed(loop.seed)
        self.features: Tensor | None = None
        self.encoder: nn.Module
        if config.encoder.kind == "embedding":
            self.encoder = GrowableTable(
                0, config.encoder.dim, init_scale=c.init_scale, generator=self.generator
            )
        elif self.stream.features is None:
            raise ConfigError(
                f"encoder.kind {config.encoder.kind!r} needs node features: "
                "continual.feature_dim > 0 (sbm stream) or a wordnet stream (gloss features)"
            )
        elif config.encoder.kind == "gnn":
            enc = config.encoder
            self.encoder = StreamGNN(
                self.stream.features, enc.dim, hidden=enc.hidden, layers=enc.layers,
                conv=enc.gnn, dropout=enc.dropout,
            )  # fmt: skip
        else:
            self.features = self.stream.features
            hidden = [config.encoder.hidden] * (config.encoder.layers - 1)
            self.encoder = MLP(int(self.features.shape[1]), hidden, config.encoder.dim)
        self.optimizer = build_optimizer(config.optim.optimizer_config(), self.encoder.parameters())
        total = sum(int(t.train_edges.shape[1]) for t in self.stream.tasks)
        capacity = c.replay.buffer_size or round(c.replay.buffer_fraction * total)
        self.buffer = ReplayMemory(capacity, c.num_negatives) if capacity > 0 else None
        e = c.ewc
        self.ewc = (
            EWC(e.lambda_, layer_lambdas=e.layer_lambdas, adaptive=e.adaptive, gamma=e.gamma)
            if e.lambda_ > 0
            else None
        )
        t = self.stream.num_tasks
        self.r = torch.full((t, t), math.nan, dtype=torch.float64)
        self.baseline = self._baseline()
        self.task = 0
        self.pass_ = 0
        self.batch = 0
        self.perm: Tensor | None = None
        self.arrived = -1  # the last task whose nodes have rows
        self.step = 0
        self.final_metrics: dict[str, float] = {}

    # ---- the stream -----------------------------------------------------------
    @property
    def is_table(self) -> bool:
        return isinstance(self.encoder, GrowableTable)

    @property
    def num_rows(self) -> int:
        """Nodes arrived so far (negatives are drawn among them)."""
        return self.stream.rows_after(max(self.arrived, 0))

    def examples(self, t: int) -> Tensor:
        """``[E, 2]`` relations trained on during task ``t`` (all tasks so far if joint)."""
        tasks = (
            self.stream.tasks[: t + 1] if self.config.continual.joint else [self.stream.tasks[t]]
        )
        return torch.cat([task.train_edges for task in tasks], 1).T.contiguous()

    def _arrive(self, t: int) -> None:
        task = self.stream.tasks[t]
        if isinstance(self.encoder, GrowableTable):
            new = self.stream.rows_after(t) - self.encoder.num_embeddings
            if new > 0:
                self.encoder.grow(
                    new, task.train_edges, generator=self.generator, optimizer=self.optimizer
                )
        self.arrived = t
        self._attach_graph()

    def _attach_graph(self) -> None:
        """A ``gnn`` encoder reads the nodes and training relations arrived so far."""
        if isinstance(self.encoder, StreamGNN) and self.arrived >= 0:
            tasks = self.stream.tasks[: self.arrived + 1]
            self.encoder.attach(self.stream.rows_after(self.arrived), message_graph(tasks))

    def _gnn_rows(self, upto: int) -> Tensor:
        """A ``gnn``'s embeddings of the nodes of tasks ``<= upto`` over their graph."""
        if not isinstance(self.encoder, StreamGNN):
            raise RuntimeError("_gnn_rows needs a gnn encoder")
        graph = message_graph(self.stream.tasks[: upto + 1])
        return self.encoder.embed_graph(self.stream.rows_after(upto), graph)

    def embed(self, rows: Tensor) -> Tensor:
        if self.features is not None:
            return self.encoder(self.features[rows])
        return self.encoder(rows)

    def blocks(self, edges: Tensor, generator: torch.Generator) -> Tensor:
        """``[B, 2+K]`` rows: each relation's anchor, positive and uniform negatives."""
        k = self.config.continual.num_negatives
        negatives = torch.randint(0, self.num_rows, (edges.shape[0], k), generator=generator)
        return torch.cat([edges, negatives], 1)

    def logits(self, rows: Tensor) -> Tensor:
        """``rows [M, 2+K]`` -> ``[M, 1+K]``: each anchor's scores over temperature
        against its positive and candidates (the InfoNCE logits DER replay stores)."""
        return relation_block_logits(
            self.embed(rows), self.distance, self.config.objective.temperature
        )

    # ---- one step -------------------------------------------------------------
    def replay_loss(self, slots: Tensor, record: dict[str, float]) -> Tensor:
        """DER / ER loss (:mod:`~contrastkit.continual.replay`) of the memory's ``slots``."""
        if self.buffer is None:
            raise RuntimeError("replay_loss needs continual.replay enabled (no memory)")
        r = self.config.continual.replay
        total = torch.zeros(())
        if r.alpha > 0:
            der = self.buffer.score_loss(slots, self.logits)
            total = total + r.alpha * der
            record["loss/der"] = float(der.detach())
        if r.beta > 0:
            z = self.embed(self.blocks(self.buffer.relations(slots), self.generator))
            if not r.push_negatives:
                # a replayed relation moves its own two rows, not its negatives: with
                # only a sample of the past replayed, its pushes would come without the
                # pulls of the relations left out
                z = torch.cat([z[:, :2], z[:, 2:].detach()], 1)
            er = self.loss_of_block(z).mean()
            total = total + r.beta * er
            record["loss/er"] = float(er.detach())
        return total

    def train_step(self, new: Tensor) -> dict[str, float]:
        """``local_steps`` steps on the arriving relations ``new [B, 2]`` (plus replay)."""
        c = self.config.continual
        out: dict[str, float] = {}
        for _ in range(c.local_steps):
            record: dict[str, float] = {}
            loss = self.loss_of_block(self.embed(self.blocks(new, self.generator))).mean()
            total = loss
            if self.buffer is not None:
                k = round(new.shape[0] * c.replay.ratio / (1.0 - c.replay.ratio))
                # relations of earlier tasks only, drawn afresh each step
                slots = self.buffer.sample(k, self.task, self.generator)
                if slots.numel():
                    total = total + self.replay_loss(slots, record)
            penalty = None
            if self.ewc is not None and self.ewc.num_consolidated:
                penalty = self.ewc.penalty(self.encoder)
                total = loss + penalty
            self.optimizer.zero_grad(set_to_none=True)
            total.backward()
            self.optimizer.step()
            out = {"loss": float(total.detach()), "loss/infonce": float(loss.detach()), **record}
            if penalty is not None:
                out["loss/ewc"] = float(penalty.detach())
        if self.buffer is not None and self.pass_ == 0:
            self.buffer.add(new, self.task, self.generator)  # each relation offered once
        return out

    # ---- end of a task ----------------------------------------------------------
    def consolidate(self, t: int) -> dict[str, Tensor]:
        """Add task ``t``'s Fisher (``fisher_samples`` of its relations, each with its own
        negatives drawn from a fixed seed) to the online EWC; returns that Fisher."""
        if self.ewc is None:
            raise RuntimeError("consolidate needs continual.ewc enabled (no EWC to add to)")
        c = self.config.continual
        gen = torch.Generator().manual_seed(self.config.loop.seed + 1000 + t)
        edges = self.stream.tasks[t].train_edges.T
        pick = torch.randperm(edges.shape[0], generator=gen)[: c.ewc.fisher_samples]
        rows = self.blocks(edges[pick], gen)
        fisher: dict[str, Tensor]
        if isinstance(self.encoder, GrowableTable):
            fisher = {"weight": row_fisher(self.encoder.weight, rows, self.loss_of_block)}
        elif isinstance(self.encoder, StreamGNN):

            def block_loss(model: nn.Module, block_rows: Tensor) -> Tensor:
                return self.loss_of_block(model(block_rows)).mean()

            # per-relation gradients through one shared full-graph pass; chunks bound
            # the batched backward's [chunk, nodes, hidden] cotangents
            was = self.encoder.training
            self.encoder.eval()  # dropout off: the Fisher of the model, not of one mask
            try:
                fisher = diagonal_fisher(self.encoder, rows.split(64), block_loss, per_sample=True)
            finally:
                self.encoder.train(was)
        else:
            features = self.features
            if features is None:
                raise RuntimeError("an encoder other than a growable table needs node features")

            def loss(model: nn.Module, block_rows: Tensor) -> Tensor:
                return self.loss_of_block(model(features[block_rows])).mean()

            fisher = diagonal_fisher(self.encoder, [rows], loss, per_sample=True)
        anchor = {n: p.detach().clone() for n, p in self.encoder.named_parameters()}
        self.ewc.add_task(fisher, anchor)
        return fisher

    @torch.no_grad()
    def _all_rows(self, upto: int, seed: int) -> Tensor:
        """Embeddings of every node of tasks ``<= upto``; rows not arrived yet are
        initialised as on arrival (from a generator of their own, not the run's)."""
        if self.features is not None:
            return self.encoder(self.features[: self.stream.rows_after(upto)])
        if not isinstance(self.encoder, GrowableTable):
            raise RuntimeError("an encoder without node features must be a growable table")
        w = self.encoder.weight.detach()
        gen = torch.Generator().manual_seed(seed)
        for t in range(self.arrived + 1, upto + 1):
            new = self.stream.rows_after(t) - w.shape[0]
            rows = neighbour_mean_init(
                w, new, self.stream.tasks[t].train_edges, init_scale=self.encoder.init_scale,
                generator=gen,
            )  # fmt: skip
            w = torch.cat([w, rows])
        return w

    def task_metric(self, z: Tensor, j: int) -> float:
        """The metric (``continual.metric``) of task ``j``'s held-out relations, each ranked
        among the nodes of tasks ``<= j``, the other known relations filtered out."""
        tasks = self.stream.tasks
        scope = self.stream.rows_after(j)
        known = [t.train_edges for t in tasks[: j + 1]] + [t.test_edges for t in tasks[:j]]
        result = filtered_ranking(
            z[:scope].float(),
            tasks[j].test_edges,
            torch.cat(known, 1),
            distance=self.distance,
            mode="undirected" if self.stream.undirected else "directed",
            return_ranks=True,
        )
        if self.config.continual.metric == "map":
            return result.map
        if result.ranks is None:  # asked for with return_ranks=True
            raise RuntimeError("the ranking returned no ranks")
        return float((1.0 / result.ranks).mean())

    def evaluate_row(self, i: int) -> Tensor:
        """R[i, :]: every task's metric now (after training task ``i``)."""
        t = self.stream.num_tasks
        was = self.encoder.training
        self.encoder.eval()
        try:
            if isinstance(self.encoder, StreamGNN):
                with torch.no_grad():  # task j over the graph known once it has arrived
                    zs = {u: self._gnn_rows(u) for u in range(i, t)}
                values = [self.task_metric(zs[max(i, j)], j) for j in range(t)]
                return torch.tensor(values, dtype=torch.float64)
            z = self._all_rows(t - 1, self.config.loop.seed + 2000 + i)
            return torch.tensor([self.task_metric(z, j) for j in range(t)], dtype=torch.float64)
        finally:
            self.encoder.train(was)

    def _baseline(self) -> Tensor:
        """b_j: the metric of the untrained model on task j (FWT's reference): a table of
        freshly initialised rows, or the encoder as initialised."""
        t = self.stream.num_tasks
        if isinstance(self.encoder, StreamGNN):
            was = self.encoder.training
            self.encoder.eval()  # no dropout in the reference
            with torch.no_grad():  # the untrained GNN, task j over the graph of tasks <= j
                values = [self.task_metric(self._gnn_rows(j), j) for j in range(t)]
            self.encoder.train(was)
            return torch.tensor(values, dtype=torch.float64)
        if self.features is not None:
            with torch.no_grad():
                z = self.encoder(self.features)
        else:
            gen = torch.Generator().manual_seed(self.config.loop.seed + 3000)
            scale = self.config.continual.init_scale
            z = (
                torch.rand(self.stream.num_nodes, self.config.encoder.dim, generator=gen) * 2 - 1
            ) * scale
        return torch.tensor([self.task_metric(z, j) for j in range(t)], dtype=torch.float64)

    # ---- the loop -------------------------------------------------------------
    def fit(
        self,
        log: Callable[[dict[str, Any]], None] | None = None,
        checkpoint: Callable[[ContinualLearner], None] | None = None,
    ) -> dict[str, float]:
        """Run the stream to its end (from wherever a loaded state left it); returns
        :func:`~contrastkit.continual.metrics.forgetting_metrics` of the R matrix."""
        c, loop = self.config.continual, self.config.loop
        every = self.config.output.checkpoint_every
        while self.task < self.stream.num_tasks:
            if self.arrived < self.task:
                self._arrive(self.task)
            examples = self.examples(self.task)
            batches = -(-examples.shape[0] // loop.batch_size)
            while self.pass_ < c.passes:
                if self.perm is None:
                    self.perm = torch.randperm(examples.shape[0], generator=self.generator)
                while self.batch < batches:
                    lo = self.batch * loop.batch_size
                    record = self.train_step(examples[self.perm[lo : lo + loop.batch_size]])
                    self.batch += 1
                    self.step += 1
                    if log is not None and self.step % loop.log_every == 0:
                        log({"kind": "train", "step": self.step, "task": self.task, **record})
                    if checkpoint is not None and self.step % every == 0:
                        checkpoint(self)
                self.pass_ += 1
                self.batch = 0
                self.perm = None
            self._end_task(log)
        self.final_metrics = self.metrics()
        return self.final_metrics

    def _end_task(self, log: Callable[[dict[str, Any]], None] | None) -> None:
        i = self.task
        if self.buffer is not None and self.config.continual.replay.alpha > 0:
            was = self.encoder.training
            self.encoder.eval()
            try:  # DER's targets: the logits of the model that has just learnt task i
                self.buffer.record(i, self.num_rows, self.logits, self.generator)
            finally:
                self.encoder.train(was)
        if self.ewc is not None:
            self.consolidate(i)
        self.r[i] = self.evaluate_row(i)
        if log is not None:
            row = {f"R/{self.stream.tasks[j].name}": float(v) for j, v in enumerate(self.r[i])}
            log({"kind": "eval", "step": self.step, "task": i, **row})
        self.task += 1
        self.pass_ = 0

    def metrics(self) -> dict[str, float]:
        """ACC, BWT, FWT and forgetting of the R matrix (joint runs: the last row's ACC)."""
        return forgetting_metrics(self.r, self.baseline)

    def summary(self) -> dict[str, Any]:
        """What ``continual.json`` holds: task names, R, b and the metrics."""
        return {
            "tasks": [t.name for t in self.stream.tasks],
            "metric": self.config.continual.metric,
            "R": self.r.tolist(),
            "baseline": self.baseline.tolist(),
            **{k: v for k, v in self.metrics().items()},
        }

    # ---- state ----------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "encoder": self.encoder.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "buffer": None if self.buffer is None else self.buffer.state_dict(),
            "ewc": None if self.ewc is None else self.ewc.state_dict(),
            "generator": self.generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            "position": [self.task, self.pass_, self.batch, self.arrived, self.step],
            "perm": self.perm,
            "r": self.r.clone(),
            "baseline": self.baseline.clone(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue from :meth:`state_dict` output (the table takes the saved row count)."""
        self.encoder.load_state_dict(state["encoder"])
        # the optimiser follows the (possibly grown) parameters, then takes its state
        self.optimizer = build_optimizer(
            self.config.optim.optimizer_config(), self.encoder.parameters()
        )
        self.optimizer.load_state_dict(state["optimizer"])
        if (state["buffer"] is None) != (self.buffer is None):
            raise ValueError("the checkpoint's replay buffer does not match continual.replay")
        if self.buffer is not None:
            self.buffer.load_state_dict(state["buffer"])
        if (state["ewc"] is None) != (self.ewc is None):
            raise ValueError("the checkpoint's EWC state does not match continual.ewc")
        if self.ewc is not None:
            self.ewc.load_state_dict(state["ewc"])
        self.generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        self.task, self.pass_, self.batch, self.arrived, self.step = (
            int(v) for v in state["position"]
        )
        self._attach_graph()
        self.perm = state["perm"]
        if state["r"].shape != self.r.shape:
            raise ValueError(
                f"the checkpoint's R matrix is {tuple(state['r'].shape)}, "
                f"this stream has {self.stream.num_tasks} tasks"
            )
        self.r = state["r"].clone()
        self.baseline = state["baseline"].clone()
