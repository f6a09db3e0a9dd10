r"""Replay memory for a task stream: experience replay (ER) and dark experience replay (DER).

The memory is a reservoir (:class:`~contrastkit.continual.reservoir.ReservoirBuffer`)
of the stream's training relations :math:`(a, p)`, each kept with the task it came
from. At the end of task :math:`t`, every relation of task :math:`t` in the memory is
given *targets* (Buzzega et al.'s "dark knowledge"): :math:`K` candidate nodes
:math:`c_1..c_K`, uniform among the nodes arrived so far, and the logits of the
relation's InfoNCE under the model that has just learnt task :math:`t`,

.. math::
    y = \bigl[s(z_a, z_p), s(z_a, z_{c_1}), \dots, s(z_a, z_{c_K})\bigr] / \tau
    \quad \in \mathbb{R}^{K+1}.

During a later task each step draws :math:`M` relations of earlier tasks from the
memory (uniformly, with replacement, afresh every step) and adds to the new
relations' loss

.. math::
    \alpha \, \frac{1}{M} \sum_{m} \frac{1}{K+1} \lVert y_m(\theta) - y_m \rVert^2
    \;+\; \beta \, \frac{1}{M} \sum_m \ell(a_m, p_m),

the first term DER's logit matching, the second ER's loss of the relation itself
against fresh uniform negatives (:math:`\alpha = 0`: ER; :math:`\beta = 0`: DER; both:
DER++). Relations of the task being learnt are never replayed: every one of them is
presented each pass anyway.

Why logits and not only relations, for an embedding table: a table has no shared
weights, so replaying a relation moves only its own rows; a 5 % sample of the past
replayed hundreds of times is fitted to a loss near zero while the rows it shares with
the relations left out (the ancestors that are every relation's positive) are dragged
to fit the sample. The stored logits tie each replayed anchor to :math:`K` other old
rows at the distances they had, so the replayed gradient also holds rows no replayed
relation names, and it cannot over-fit: it is zero where the task ended.

Memory per stored relation: 3 int64 ids (anchor, positive, task), 2 int64 for its
candidates and K + 1 float32 targets. The candidates are not stored: they are a pure
function of a key drawn at record time and the row count then
(:func:`~contrastkit.graph.rng.counter_uniform`), regenerated when read, so the memory
holds :math:`40 + 4(K + 1)` bytes per relation instead of :math:`24 + 8K + 4(K + 1)`
(244 instead of 628 bytes at :math:`K = 50`).

Reference: P. Buzzega, M. Boschini, A. Porrello, D. Abati, S. Calderara, "Dark
experience for general continual learning: a strong, simple baseline", NeurIPS 2020.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor

from contrastkit._validation import check_positive_int
from contrastkit.continual.reservoir import ReservoirBuffer
from contrastkit.graph.rng import counter_uniform

__all__ = ["ReplayMemory"]


class ReplayMemory:
    """A reservoir of ``capacity`` relations with their task and DER targets over
    ``num_candidates`` candidate nodes each (module docstring).

    ``logits`` arguments are functions ``rows [M, 2+K] -> [M, 1+K]``: the anchor's
    scores over temperature against the positive and the candidates (the learner's
    :meth:`~contrastkit.continual.learner.ContinualLearner.logits`).

    Example:
        >>> mem = ReplayMemory(4, num_candidates=2)
        >>> gen = torch.Generator().manual_seed(0)
        >>> mem.add(torch.tensor([[0, 1], [2, 3]]), task=0, generator=gen)
        >>> mem.sample(3, before_task=0, generator=gen).numel()  # nothing older than task 0
        0
        >>> mem.sample(3, before_task=1, generator=gen).numel()
        3
    """

    def __init__(self, capacity: int, num_candidates: int) -> None:
        self.buffer = ReservoirBuffer(capacity, width=3)
        self.num_candidates = check_positive_int("num_candidates", num_candidates)
        # per slot: (key, row count) of its candidates' counter-based draw
        self.draws = torch.zeros(capacity, 2, dtype=torch.int64)
        self.targets = torch.zeros(capacity, num_candidates + 1)

    @property
    def capacity(self) -> int:
        return self.buffer.capacity

    @property
    def seen(self) -> int:
        return self.buffer.seen

    def __len__(self) -> int:
        return len(self.buffer)

    @property
    def tasks(self) -> Tensor:
        """``[len]`` the task each stored relation came from."""
        return self.buffer.items[: len(self), 2]

    def relations(self, slots: Tensor) -> Tensor:
        """``[M, 2]`` the relations in ``slots``."""
        return self.buffer.items[slots, :2]

    def add(self, edges: Tensor, task: int, generator: torch.Generator) -> None:
        """Offer ``edges [B, 2]`` of task ``task`` to the reservoir (one draw each)."""
        if edges.dim() != 2 or edges.shape[1] != 2:
            raise ValueError(f"edges must have shape [B, 2], got {tuple(edges.shape)}")
        tag = torch.full((edges.shape[0], 1), task, dtype=torch.int64)
        self.buffer.add(torch.cat([edges.to(torch.int64), tag], 1), generator)

    def sample(self, k: int, before_task: int, generator: torch.Generator) -> Tensor:
        """``[k]`` slots drawn uniformly with replacement among the relations of tasks
        ``< before_task`` (``[0]`` when there are none or ``k <= 0``)."""
        pool = torch.nonzero(self.tasks < before_task).flatten()
        if pool.numel() == 0 or k <= 0:
            return pool[:0]
        return pool[torch.randint(0, pool.numel(), (k,), generator=generator)]

    @torch.no_grad()
    def record(
        self,
        task: int,
        num_rows: int,
        logits: Callable[[Tensor], Tensor],
        generator: torch.Generator,
    ) -> Tensor:
        """Give the stored relations of ``task`` their candidates (uniform in
        ``0..num_rows-1``) and targets (``logits`` now); returns their slots. Call at
        the end of the task: a slot later taken by a newer relation gets that relation's
        task, so its stale targets are never read."""
        check_positive_int("num_rows", num_rows)
        if num_rows >= 1 << 31:
            raise ValueError(f"num_rows must be < 2**31 for the replay draws, got {num_rows}")
        slots = torch.nonzero(self.tasks == task).flatten()
        if slots.numel() == 0:
            return slots
        keys = torch.randint(0, 1 << 32, (slots.numel(),), generator=generator)
        self.draws[slots] = torch.stack([keys, torch.full_like(keys, num_rows)], 1)
        scores = logits(self.blocks(slots))
        self.targets[slots] = scores.detach().to(self.targets.dtype)
        return slots

    def candidates(self, slots: Tensor) -> Tensor:
        """``[M, K]`` the recorded candidates of ``slots``: uniform among the rows that had
        arrived when their task was recorded, regenerated from the stored draw."""
        draws = self.draws[slots]
        return counter_uniform(draws[:, 0], self.num_candidates, draws[:, 1])

    def blocks(self, slots: Tensor) -> Tensor:
        """``[M, 2+K]`` rows of the stored relations in ``slots``: anchor, positive and
        their recorded candidates."""
        return torch.cat([self.relations(slots), self.candidates(slots)], 1)

    def nbytes(self) -> int:
        """Bytes the memory holds (relations, draws and targets)."""
        held = (self.buffer.items, self.draws, self.targets)
        return sum(t.numel() * t.element_size() for t in held)

    def score_loss(self, slots: Tensor, logits: Callable[[Tensor], Tensor]) -> Tensor:
        r"""DER's term: :math:`\frac{1}{M(K+1)} \sum_m \lVert y_m(\theta) - y_m \rVert^2`
        over ``slots [M]`` (a scalar with the gradient of ``logits``)."""
        now = logits(self.blocks(slots))
        return (now - self.targets[slots].to(now.dtype)).pow(2).mean()

    def state_dict(self) -> dict[str, Any]:
        return {
            "reservoir": self.buffer.state_dict(),
            "draws": self.draws.clone(),
            "num_candidates": self.num_candidates,
            "targets": self.targets.clone(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if "draws" not in state:
            raise ValueError(
                "replay state stores its candidates (written before the candidates were "
                "drawn by key): it cannot be continued, start the run afresh"
            )
        if int(state["num_candidates"]) != self.num_candidates:
            raise ValueError(
                f"replay state has {int(state['num_candidates'])} candidates per relation, "
                f"this memory {self.num_candidates} (continual.num_negatives)"
            )
        for key, have in (("draws", self.draws), ("targets", self.targets)):
            if tuple(state[key].shape) != tuple(have.shape):
                raise ValueError(
                    f"replay state has {key} of shape {tuple(state[key].shape)}, "
                    f"this memory holds {tuple(have.shape)}"
                )
        self.buffer.load_state_dict(state["reservoir"])
        self.draws = state["draws"].clone()
        self.targets = state["targets"].clone()
