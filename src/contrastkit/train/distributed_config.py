"""Settings of data-parallel training (the ``distributed`` section of a run config).

They take effect only when the run is launched on several processes (``torchrun
--nproc_per_node=N -m contrastkit train ...``); a single process ignores them.

Example (YAML)::

    distributed:
      gather: local            # local | full | none: in-batch candidates across ranks
      drop_last: false         # pad an epoch's incomplete global batch (true: drop it)
      find_unused_parameters: false

``loop.batch_size`` stays the *global* batch: each of ``W`` ranks takes
``batch_size / W`` examples of it, so a run on ``W`` processes takes the same steps
over the same batches as on one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from contrastkit.typed_config import config_fail

Gather = Literal["local", "full", "none"]


@dataclass
class DistributedConfig:
    """Data-parallel settings (see the module docstring).

    Attributes:
        gather: how in-batch objectives (``infonce`` with ``in_batch``, ``mnr``) see the
            other ranks' pairs: ``local`` — gathered with gradient, each rank scores its
            own anchors against all candidates; ``full`` — gathered without gradient,
            each rank scores every anchor, the gradient scaled to equal single-process;
            ``none`` — each rank's own pairs only (:mod:`contrastkit.dist.in_batch`).
        drop_last: the last global batch of an epoch, when shorter than
            ``loop.batch_size``, is dropped (true) or filled up with examples from the
            start of the epoch's order (false, the default, as
            ``DistributedSampler`` pads), so that every rank holds the same number of
            examples. Padding keeps the single process's number of steps per epoch
            (``ceil(examples / batch_size)``); dropping trains one step fewer per
            epoch whenever the examples do not fill whole batches.
        find_unused_parameters: passed to ``DistributedDataParallel``: needed when an
            encoder has parameters a step does not use.
        timeout_s: how long a collective waits for the other ranks before failing.
    """

    gather: Gather = "local"
    drop_last: bool = False
    find_unused_parameters: bool = False
    timeout_s: float = 1800.0

    def __post_init__(self) -> None:
        if self.gather not in ("local", "full", "none"):
            config_fail("distributed.gather", f"must be local, full or none, got {self.gather!r}")
        if not self.timeout_s > 0:
            config_fail("distributed.timeout_s", f"must be > 0, got {self.timeout_s}")
