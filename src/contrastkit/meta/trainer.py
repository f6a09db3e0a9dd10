"""Meta-training: episodes of the meta-train classes -> MAML / ProtoNet -> outer step.

Each outer step draws ``meta.meta_batch`` episodes (of the meta-train classes, or with
``meta.train_tasks: subtree`` of the finer classes cut from them:
:mod:`contrastkit.meta.subtree_tasks`), computes each one's loss (MAML:
the query loss after ``inner_steps`` adaptation steps, second order or first, with the
``meta`` options of :mod:`contrastkit.meta.maml`; ProtoNet: the prototype
cross-entropy), back-propagates them one by one (tasks are looped, so the peak memory
is one episode's graph) and takes one step of the outer optimiser (``optim``: its
``lr_schedule`` — e.g. MAML++'s cosine annealing — ``warmup_steps`` and ``grad_clip``
run over the ``meta.steps`` outer steps). Learnt inner rates
(``meta.learn_inner_lr``) are parameters of that optimiser. Every ``meta.eval_every``
steps the learner is scored on fixed validation episodes; the parameters (and learnt
rates) with the best validation accuracy are kept and scored at the end on fixed test
episodes of held-out classes, beside the same network adapted from its
initialisation with the rate ``meta.inner_lr`` (``test/scratch_accuracy``). Nothing
about the test episodes feeds back into training or selection.

The trainer's state (network, optimiser, episode generator, step, best parameters) is
a ``state_dict``: a run resumed from a checkpoint draws the same episodes as an
uninterrupted one.
"""

from __future__ import annotations

import copy
import math
import sys
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from contrastkit.meta.episodes import Episodes, EpisodeSampler, split_classes
from contrastkit.meta.evaluation import episode_inputs, maml_accuracy, mean_ci95, protonet_accuracy
from contrastkit.meta.fewshot_data import FewShotData
from contrastkit.meta.inner_lr import InnerLR
from contrastkit.meta.maml import HEAD, episode_losses, multi_step_weights
from contrastkit.meta.network import FewShotNet
from contrastkit.meta.protonet import protonet_logits
from contrastkit.meta.subtree_tasks import subtree_classes
from contrastkit.optim.factory import build_optimizer, clip_gradients
from contrastkit.train.callbacks import NonFiniteError
from contrastkit.train.config import TrainConfig

#: seed offsets of the fixed validation / test episodes and of the training stream
_VAL_SEED, _TEST_SEED, _TRAIN_SEED = 1, 2, 3


class MetaTrainer:
    """Meta-train ``config``'s few-shot learner on ``data`` (see the module docstring).

    Args:
        config: a ``task.kind: fewshot`` config (``meta``, ``encoder``, ``optim``,
            ``loop.seed``, ``loop.num_threads``).
        data: the items, labels and graph (:func:`~contrastkit.meta.run.build_fewshot_data`).
    """

    def __init__(self, config: TrainConfig, data: FewShotData) -> None:
        self.config, self.data = config, data
        meta, enc, seed = config.meta, config.encoder, config.loop.seed
        if config.loop.num_threads > 0:
            torch.set_num_threads(config.loop.num_threads)
        torch.manual_seed(seed)
        self.splits = split_classes(
            data.y, (meta.train_classes, meta.val_classes, meta.test_classes), generator=seed
        )
        train_labels, train_classes = self._train_labels()
        self.samplers = {
            name: EpisodeSampler(
                labels, classes, ways=meta.ways, shots=meta.shots, queries=meta.queries
            )
            for name, labels, classes in (
                ("train", train_labels, train_classes),
                ("val", data.y, self.splits.val),
                ("test", data.y, self.splits.test),
            )
        }
        self.model = FewShotNet(
            data.x.shape[1],
            meta.ways,
            dim=enc.dim,
            hidden=enc.hidden,
            layers=enc.layers,
            encoder="gnn" if enc.kind == "gnn" else "mlp",
            conv=enc.gnn,
            head_input=meta.head_input,
        )
        # the scratch baseline: this very network at its random initialisation
        self.initial = {n: p.detach().clone() for n, p in self.model.named_parameters()}
        adapted = [n for n, _ in self.model.named_parameters() if meta.adapt == "all" or n in HEAD]
        shapes = dict(self.model.named_parameters())
        self.inner_lr = InnerLR(
            {n: shapes[n].shape for n in adapted},
            steps=meta.inner_steps,
            init=meta.inner_lr,
            kind=meta.learn_inner_lr if meta.method != "protonet" else "fixed",
        )
        # one outer optimiser over the initialisation and the learnt rates (if any)
        self.learner = nn.ModuleDict({"net": self.model, "inner_lr": self.inner_lr})
        self.optimizer = build_optimizer(config.optim.optimizer_config(), self.learner)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self._lr_factor)
        self.val_episodes = self.samplers["val"].sample(
            meta.val_episodes, generator=seed + _VAL_SEED
        )
        self.test_episodes = self.samplers["test"].sample(
            meta.test_episodes, generator=seed + _TEST_SEED
        )
        self.generator = torch.Generator().manual_seed(seed + _TRAIN_SEED)
        self.step = 0
        self.best_val = -1.0
        self.best_step = 0
        self.best_params = copy.deepcopy(self.initial)
        self.best_rates = copy.deepcopy(self.inner_lr)

    def _train_labels(self) -> tuple[Tensor, Tensor]:
        """``(labels [N], classes)`` meta-train episodes draw from: the meta-train
        split's classes, or (``meta.train_tasks: subtree``) the fine classes cut from
        them (:func:`~contrastkit.meta.subtree_tasks.subtree_classes`)."""
        meta, data = self.config.meta, self.data
        if meta.train_tasks == "classes":
            return data.y, self.splits.train
        if data.node_class is None or data.lineage is None:
            raise ValueError(
                "meta.train_tasks 'subtree' needs data with node classes and a hierarchy "
                "(data.name 'wordnet_nouns')"
            )
        fine = subtree_classes(
            data.node_class,
            data.lineage,
            self.splits.train,
            depth=meta.subtree_depth,
            min_items=meta.subtree_min_items or meta.shots + meta.queries,
        )
        count = int(fine.max()) + 1
        if count < meta.ways:
            raise ValueError(
                f"meta.subtree_depth={meta.subtree_depth} leaves {max(count, 0)} meta-train "
                f"classes with >= meta.subtree_min_items items, fewer than meta.ways="
                f"{meta.ways}; choose a smaller depth or add meta.train_per_class"
            )
        return fine, torch.arange(count)

    def _lr_factor(self, step: int) -> float:
        """The outer rate's factor at outer step ``step``: ``optim.warmup_steps`` of
        linear warm-up, then ``optim.lr_schedule`` (``cosine``: MAML++'s annealing,
        ``(1 + cos(pi s / S)) / 2`` over the remaining ``S`` steps) to ``meta.steps``."""
        optim, total = self.config.optim, self.config.meta.steps
        if step < optim.warmup_steps:
            return (step + 1) / optim.warmup_steps
        progress = min((step - optim.warmup_steps) / max(total - optim.warmup_steps, 1), 1.0)
        if optim.lr_schedule == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * progress))
        if optim.lr_schedule == "linear":
            return 1.0 - progress
        return 1.0

    # -- one outer step ---------------------------------------------------------------

    def _episode_loss(self, episodes: Episodes) -> tuple[Tensor, Tensor]:
        """``(loss, query accuracy)`` of one episode, differentiable in the network."""
        meta = self.config.meta
        ys, yq = episodes.support_labels(), episodes.query_labels()
        n, k = episodes.support.shape[1:]
        ((inp, ns),) = episode_inputs(self.data, episodes, self.model.hops)
        if meta.method == "protonet":
            z = self.model.embed(inp.x, inp.edge_index, inp.nodes)
            logits = protonet_logits(
                z[:ns].reshape(n, k, -1), z[ns:], meta.distance, meta.temperature
            )
            loss = torch.nn.functional.cross_entropy(logits, yq)
        else:
            anneal = meta.multi_step_loss
            weights = (
                multi_step_weights(meta.inner_steps, self.step / anneal)
                if anneal and meta.inner_steps
                else None
            )
            loss, logits = episode_losses(
                self.model,
                dict(self.model.named_parameters()),
                inp,
                ns,
                ys,
                yq,
                steps=meta.inner_steps,
                lr=self.inner_lr.rate,
                first_order=meta.method == "fomaml",
                scope=meta.adapt,
                head_init=meta.head_init,
                step_weights=weights,
            )
        return loss, (logits.argmax(-1) == yq).float().mean()

    def train_step(self) -> dict[str, float]:
        """One outer step over ``meta.meta_batch`` fresh meta-train episodes."""
        meta = self.config.meta
        self.model.train()
        episodes = self.samplers["train"].sample(meta.meta_batch, generator=self.generator)
        self.optimizer.zero_grad(set_to_none=True)
        total, correct = 0.0, 0.0
        for i in range(len(episodes)):
            loss, acc = self._episode_loss(episodes.episode(i))
            (loss / len(episodes)).backward()
            total += float(loss.detach()) / len(episodes)
            correct += float(acc) / len(episodes)
        grads = [p.grad for p in self.learner.parameters() if p.grad is not None]
        if not all(bool(torch.isfinite(g).all()) for g in grads) or not total == total:
            raise NonFiniteError(
                f"meta-training step {self.step + 1}: non-finite loss or meta-gradient "
                f"(loss {total}); lower optim.lr or meta.inner_lr"
            )
        if self.config.optim.grad_clip > 0:
            clip_gradients(list(self.learner.parameters()), max_norm=self.config.optim.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        self.step += 1
        return {"train_loss": total, "train/accuracy": correct}

    # -- evaluation -------------------------------------------------------------------

    def accuracy(
        self,
        episodes: Episodes,
        params: dict[str, Tensor] | None = None,
        rates: InnerLR | None = None,
    ) -> Tensor:
        """Per-episode query accuracy ``[E]`` of the run's method with ``params`` and
        inner ``rates`` (default the current ones)."""
        meta = self.config.meta
        params = params if params is not None else dict(self.model.named_parameters())
        rates = rates if rates is not None else self.inner_lr
        self.model.eval()
        if meta.method == "protonet":
            saved = {n: p.detach().clone() for n, p in self.model.named_parameters()}
            self._load_params(params)
            try:
                return protonet_accuracy(
                    self.model, self.data, episodes, distance=meta.distance,
                    temperature=meta.temperature,
                )  # fmt: skip
            finally:
                self._load_params(saved)
        return maml_accuracy(
            self.model, params, self.data, episodes, steps=meta.inner_steps, lr=rates.rate,
            scope=meta.adapt, head_init=meta.head_init,
        )  # fmt: skip

    def scratch_accuracy(self, episodes: Episodes, lr: float | None = None) -> Tensor:
        """Per-episode accuracy ``[E]`` of the network adapted from its random
        initialisation by the same ``inner_steps`` steps (same ``adapt`` scope and
        ``head_init``) of rate ``lr`` (default ``meta.inner_lr``, the learnt rates'
        start)."""
        meta = self.config.meta
        return maml_accuracy(
            self.model,
            self.initial,
            self.data,
            episodes,
            steps=meta.inner_steps,
            lr=meta.inner_lr if lr is None else lr,
            scope=meta.adapt,
            head_init=meta.head_init,
        )

    def _load_params(self, params: dict[str, Tensor]) -> None:
        with torch.no_grad():
            for name, p in self.model.named_parameters():
                p.copy_(params[name])

    def validate(self) -> dict[str, float]:
        """Validation accuracy now; the parameters are kept when it is the best so far."""
        mean, _ = mean_ci95(self.accuracy(self.val_episodes))
        if mean > self.best_val:
            self.best_val, self.best_step = mean, self.step
            self.best_params = {n: p.detach().clone() for n, p in self.model.named_parameters()}
            self.best_rates = copy.deepcopy(self.inner_lr)
        return {"val/accuracy": mean, "val/best_accuracy": self.best_val}

    def best_accuracy(self, episodes: Episodes) -> Tensor:
        """Per-episode accuracy ``[E]`` with the best validated parameters and rates."""
        return self.accuracy(episodes, self.best_params, self.best_rates)

    def test(self) -> dict[str, float]:
        """Test accuracy (and the scratch baseline's) with the best validated parameters:
        means and 95 % half-widths over ``meta.test_episodes`` episodes."""
        mean, ci = mean_ci95(self.best_accuracy(self.test_episodes))
        metrics = {
            "val/accuracy": self.best_val,
            "best_step": float(self.best_step),
            "test/accuracy": mean,
            "test/accuracy_ci95": ci,
        }
        if self.config.meta.scratch:
            s_mean, s_ci = mean_ci95(self.scratch_accuracy(self.test_episodes))
            metrics |= {"test/scratch_accuracy": s_mean, "test/scratch_accuracy_ci95": s_ci}
        return metrics

    # -- the loop ---------------------------------------------------------------------

    def fit(
        self,
        log: Callable[[dict[str, Any]], None],
        checkpoint: Callable[[MetaTrainer], object] | None = None,
    ) -> dict[str, float]:
        """Meta-train to ``meta.steps``, validating every ``meta.eval_every`` steps (and
        at step 0), writing records through ``log``; returns :meth:`test`'s metrics."""
        meta = self.config.meta
        if self.step == 0:
            log({"kind": "eval", "step": 0, **self.validate()})
        while self.step < meta.steps:
            record = self.train_step()
            if self.step % self.config.loop.log_every == 0:
                log({"kind": "train", "step": self.step, **record})
            if self.step % meta.eval_every == 0 or self.step == meta.steps:
                metrics = self.validate()
                log({"kind": "eval", "step": self.step, **metrics})
                if self.config.loop.progress:
                    print(
                        f"step {self.step}/{meta.steps}  loss {record['train_loss']:.4f}  "
                        f"val/accuracy {metrics['val/accuracy']:.4f}",
                        file=sys.stderr,
                    )
                if checkpoint is not None:
                    checkpoint(self)
        final = self.test()
        log({"kind": "test", "step": self.step, **final})
        return final

    # -- state --------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "inner_lr": self.inner_lr.state_dict(),
            "best_rates": self.best_rates.state_dict(),
            "generator": self.generator.get_state(),
            "step": self.step,
            "best_val": self.best_val,
            "best_step": self.best_step,
            "best_params": self.best_params,
            "initial": self.initial,
            "schedule": self._schedule(),
        }

    def _schedule(self) -> dict[str, Any]:
        """The settings the outer rate's schedule (:meth:`_lr_factor`) reads."""
        optim = self.config.optim
        return {
            "optim.lr_schedule": optim.lr_schedule,
            "optim.warmup_steps": optim.warmup_steps,
            "meta.steps": self.config.meta.steps,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        check_resumed_schedule(state.get("schedule"), self._schedule())
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.inner_lr.load_state_dict(state["inner_lr"])
        self.best_rates.load_state_dict(state["best_rates"])
        self.generator.set_state(state["generator"])
        self.step = int(state["step"])
        self.best_val = float(state["best_val"])
        self.best_step = int(state["best_step"])
        self.best_params = dict(state["best_params"])
        self.initial = dict(state["initial"])


def check_resumed_schedule(saved: dict[str, Any] | None, now: dict[str, Any]) -> None:
    """A resumed run keeps its outer-rate schedule: a ``ValueError`` naming the first
    setting of ``now`` that differs from the checkpoint's ``saved`` one, with both
    values, since the schedule would otherwise change shape partway through the run.
    ``meta.steps`` may grow or shrink under a ``constant`` schedule (it reads no length);
    ``saved`` is ``None`` for checkpoints written before the schedule was recorded."""
    if saved is None:
        return
    constant = saved["optim.lr_schedule"] == now["optim.lr_schedule"] == "constant"
    for key, value in now.items():
        if value != saved[key] and not (key == "meta.steps" and constant):
            raise ValueError(
                f"{key} is {value!r} but the run being resumed was started with "
                f"{saved[key]!r}: its {saved['optim.lr_schedule']} outer-rate schedule "
                f"would change partway; resume with --set {key}={saved[key]} "
                "(or start a new run)"
            )
