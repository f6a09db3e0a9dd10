"""``build_optimizer(config, params)`` over ``torch.optim`` and geoopt, and gradient clipping.

The updates are torch's own. With gradient :math:`g`, rate :math:`\\eta`, decay :math:`\\lambda`:

.. math::

    \\text{SGD: } v \\leftarrow \\mu v + (1 - d)(g + \\lambda\\theta),\\;
    \\theta \\leftarrow \\theta - \\eta\\,(v \\text{ or, Nesterov, } g + \\lambda\\theta + \\mu v)

    \\text{Adam: } m \\leftarrow \\beta_1 m + (1-\\beta_1) g,\\;
    v \\leftarrow \\beta_2 v + (1-\\beta_2) g^2,\\;
    \\theta \\leftarrow \\theta - \\eta\\, \\hat m / (\\sqrt{\\hat v} + \\epsilon),\\;
    \\hat m = m / (1-\\beta_1^t),\\; \\hat v = v / (1-\\beta_2^t)

with :math:`v` replaced by :math:`\\max_{s \\le t} v_s` for AMSGrad; AdamW first decays
:math:`\\theta \\leftarrow (1 - \\eta\\lambda)\\theta`. Torch starts the SGD momentum buffer at
:math:`g` (no dampening on step 1). A module's biases, norm layers and embeddings get
no weight decay (``exclude_from_decay``); sparse-gradient embeddings
(``nn.Embedding(sparse=True)``) go to SparseAdam, SGD, Adagrad or geoopt's sparse
Riemannian optimisers, joined to the dense one in a :class:`CompositeOptimizer` that
LR schedulers drive like any other. geoopt ``ManifoldParameter`` s need ``"rsgd"``,
``"radam"`` or ``"radagrad"`` (Bécigneul & Ganea, ICLR 2019; row-wise Adagrad as in
PyTorch-BigGraph, :mod:`contrastkit.optim.row_adagrad`). Kingma & Ba 2015 (Adam), Reddi et al.
2018 (AMSGrad), Loshchilov & Hutter 2019 (AdamW), Sutskever et al. 2013 (Nesterov).

Example:
    >>> from torch import nn
    >>> from contrastkit.optim.factory import OptimizerConfig, build_optimizer
    >>> model = nn.Sequential(nn.Embedding(100, 8, sparse=True), nn.Linear(8, 2))
    >>> opt = build_optimizer(OptimizerConfig("adamw", lr=1e-3, weight_decay=0.01), model)
    >>> [type(o).__name__ for o in opt.optimizers]
    ['AdamW', 'SparseAdam']
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

import torch
from torch import Tensor, nn

from contrastkit._validation import check_choice, check_non_negative, check_positive
from contrastkit.optim.composite import CompositeOptimizer
from contrastkit.optim.row_adagrad import RowAdagrad

OptimizerName = Literal[
    "sgd", "adam", "adamw", "rectified_adam", "adagrad", "sparse_adam", "rsgd", "radam", "radagrad"
]
SparseOptimizerName = Literal["auto", "sparse_adam", "sgd", "adagrad", "radagrad"]
DecayExclusion = Literal["bias", "norm", "embedding"]
ParamsLike = nn.Module | Iterable[Tensor] | Iterable[dict[str, Any]]
_NORMS = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm, nn.LocalResponseNorm)


@dataclass
class OptimizerConfig:
    """Typed optimiser settings (fields not used by ``name`` are ignored).

    ``name``: ``sgd``, ``adam``, ``adamw``, ``rectified_adam`` (torch RAdam),
    ``adagrad``, ``sparse_adam`` (Adam for dense, SparseAdam for sparse parameters),
    ``rsgd`` / ``radam`` (geoopt Riemannian SGD / Adam), ``radagrad`` (row-wise
    Adagrad, Riemannian on manifolds: :class:`~contrastkit.optim.row_adagrad.RowAdagrad`;
    its ``eps`` is this config's). ``stabilize``: geoopt's
    projection period. ``clip_grad_norm`` / ``clip_grad_value`` are read by
    :func:`clip_gradients` callers (the trainer).
    """

    name: OptimizerName = "adamw"
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.0
    dampening: float = 0.0
    nesterov: bool = False
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    amsgrad: bool = False
    exclude_from_decay: tuple[DecayExclusion, ...] = ("bias", "norm", "embedding")
    sparse_optimizer: SparseOptimizerName = "auto"
    stabilize: int | None = None
    clip_grad_norm: float | None = None
    clip_grad_value: float | None = None

    def __post_init__(self) -> None:
        check_choice("name", self.name, get_args(OptimizerName))
        check_positive("lr", self.lr)
        check_non_negative("weight_decay", self.weight_decay)
        for key in ("momentum", "dampening"):
            v = check_non_negative(key, getattr(self, key))
            if v >= 1.0 + (key == "dampening"):
                raise ValueError(f"{key} must be < 1 (dampening <= 1), got {v}")
        if self.nesterov and (self.momentum <= 0 or self.dampening != 0):
            raise ValueError("nesterov needs momentum > 0 and dampening == 0")
        if len(self.betas) != 2 or not all(0.0 <= float(b) < 1.0 for b in self.betas):
            raise ValueError(f"betas must be two numbers in [0, 1), got {self.betas!r}")
        self.betas = (float(self.betas[0]), float(self.betas[1]))
        check_positive("eps", self.eps)
        self.exclude_from_decay = tuple(
            check_choice("exclude_from_decay", e, get_args(DecayExclusion))
            for e in self.exclude_from_decay
        )
        check_choice("sparse_optimizer", self.sparse_optimizer, get_args(SparseOptimizerName))
        if self.stabilize is not None and (isinstance(self.stabilize, bool) or self.stabilize <= 0):
            raise ValueError(f"stabilize must be a positive int or None, got {self.stabilize!r}")
        for key in ("clip_grad_norm", "clip_grad_value"):
            if getattr(self, key) is not None:
                check_positive(key, getattr(self, key))


def _is_manifold(p: Tensor) -> bool:
    return hasattr(p, "manifold") and type(p).__module__.startswith("geoopt")


def parameter_groups(
    model: nn.Module,
    weight_decay: float,
    exclude: Iterable[DecayExclusion] = ("bias", "norm", "embedding"),
) -> list[dict[str, Any]]:
    """Split ``model``'s trainable parameters into decay / no-decay / sparse groups.

    Returns non-empty groups ``{"params", "weight_decay", "sparse"}``; sparse-gradient
    embedding weights never decay (torch's sparse updates do not support it).
    """
    excl = set(exclude)
    buckets: dict[tuple[float, bool], list[Tensor]] = {(weight_decay, False): [], (0.0, True): []}
    seen: set[int] = set()
    for mod in model.modules():
        is_emb = isinstance(mod, (nn.Embedding, nn.EmbeddingBag))
        for name, p in mod.named_parameters(recurse=False):
            if not p.requires_grad or id(p) in seen:
                continue
            seen.add(id(p))
            sparse = is_emb and bool(getattr(mod, "sparse", False))
            no_decay = (
                ("bias" in excl and name.endswith("bias"))
                or ("norm" in excl and isinstance(mod, _NORMS))
                or ("embedding" in excl and is_emb)
            )
            buckets.setdefault((0.0 if no_decay or sparse else weight_decay, sparse), []).append(p)
    return [
        {"params": ps, "weight_decay": wd, "sparse": sp} for (wd, sp), ps in buckets.items() if ps
    ]


def _build(kind: str, groups: list[dict[str, Any]], c: OptimizerConfig) -> torch.optim.Optimizer:
    sgd: dict[str, Any] = {"lr": c.lr, "momentum": c.momentum, "dampening": c.dampening}
    sgd["nesterov"] = c.nesterov
    adam: dict[str, Any] = {"lr": c.lr, "betas": c.betas, "eps": c.eps}
    ams = {**adam, "amsgrad": c.amsgrad}
    table: dict[str, tuple[Any, dict[str, Any]]]
    if kind in ("rsgd", "radam", "sparse_rsgd", "sparse_radam"):  # geoopt's
        try:
            import geoopt
        except ImportError as exc:  # pragma: no cover - geoopt is installed in the dev env
            raise ImportError(
                f"name={kind!r} needs geoopt: pip install 'contrastkit[hyperbolic]'"
            ) from exc
        g = geoopt.optim
        table = {
            "rsgd": (g.RiemannianSGD, {**sgd, "stabilize": c.stabilize}),
            "radam": (g.RiemannianAdam, {**ams, "stabilize": c.stabilize}),
            "sparse_rsgd": (g.SparseRiemannianSGD, {**sgd, "stabilize": c.stabilize}),
            "sparse_radam": (g.SparseRiemannianAdam, ams),
        }
    else:
        table = {
            "sgd": (torch.optim.SGD, sgd),
            "adam": (torch.optim.Adam, ams),
            "adamw": (torch.optim.AdamW, ams),
            "rectified_adam": (torch.optim.RAdam, adam),
            "adagrad": (torch.optim.Adagrad, {"lr": c.lr, "eps": c.eps}),
            "sparse_adam": (torch.optim.SparseAdam, adam),
            "radagrad": (RowAdagrad, {"lr": c.lr, "eps": c.eps}),
        }
    cls, kwargs = table[kind]
    opt: torch.optim.Optimizer = cls(groups, **kwargs)
    return opt


def build_optimizer(config: OptimizerConfig, params: ParamsLike) -> torch.optim.Optimizer:
    """Build the optimiser for ``params`` (a module, parameters, or param-group dicts).

    A module gets :func:`parameter_groups`; dict groups are used as given (add
    ``"sparse": True`` to route a group to the sparse optimiser). Returns a
    :class:`CompositeOptimizer` only when dense and sparse parameters need different
    torch optimisers.
    """
    if not isinstance(config, OptimizerConfig):
        raise TypeError(f"config must be an OptimizerConfig, got {type(config).__name__}")
    if isinstance(params, nn.Module):
        groups = parameter_groups(params, config.weight_decay, config.exclude_from_decay)
    else:
        items = list(params)
        if items and isinstance(items[0], dict):
            groups = [dict(g) for g in items if isinstance(g, Mapping)]
        else:
            groups = [{"params": items}]
        for g in groups:
            g["params"] = list(g["params"])
            g.setdefault("weight_decay", config.weight_decay)
            g.setdefault("sparse", False)
    groups = [g for g in groups if g["params"]]
    if not groups:
        raise ValueError("params contains no trainable parameters")
    riemannian = config.name in ("rsgd", "radam", "radagrad")
    if not riemannian and any(_is_manifold(p) for g in groups for p in g["params"]):
        raise ValueError(
            f"name={config.name!r} cannot update geoopt ManifoldParameters; "
            "use 'rsgd', 'radam' or 'radagrad'"
        )
    flags = [bool(g.pop("sparse")) for g in groups]
    dense = [g for g, f in zip(groups, flags, strict=True) if not f]
    sparse = [g for g, f in zip(groups, flags, strict=True) if f]
    for g in sparse:
        if g.get("weight_decay", 0.0):
            raise ValueError("weight_decay cannot be applied to sparse-gradient parameters")
    main = "adam" if config.name == "sparse_adam" else config.name
    if not sparse:
        return _build(main, dense, config)
    kind: str = config.sparse_optimizer
    if kind == "auto":
        auto = {
            "sgd": "sgd",
            "adagrad": "adagrad",
            "radagrad": "radagrad",
            "rsgd": "sparse_rsgd",
            "radam": "sparse_radam",
        }
        kind = auto.get(config.name, "sparse_adam")
    if kind == main and kind in ("sgd", "adagrad", "radagrad"):
        return _build(kind, dense + sparse, config)  # these accept sparse gradients
    opts = [_build(main, dense, config)] if dense else []
    return CompositeOptimizer([*opts, _build(kind, sparse, config)])


def clip_gradients(
    parameters: Iterable[Tensor],
    *,
    max_norm: float | None = None,
    max_value: float | None = None,
    norm_type: float = 2.0,
) -> Tensor:
    """Clip gradients by value (first) and/or by total norm; sparse gradients included.

    .. math:: g \\leftarrow g \\min(1,\\, c / (\\lVert (g_1, \\dots, g_n) \\rVert_p + \\epsilon))

    Returns the total ``norm_type``-norm before norm clipping (0-d tensor). Dense-only
    gradients go through ``torch.nn.utils.clip_grad_value_`` / ``clip_grad_norm_``.
    """
    if max_norm is not None:
        check_positive("max_norm", max_norm)
    if max_value is not None:
        check_positive("max_value", max_value)
    pairs = [(p, p.grad) for p in parameters if p.grad is not None]
    if not pairs:
        return torch.zeros(())
    if not any(g.is_sparse for _, g in pairs):
        params = [p for p, _ in pairs]
        if max_value is not None:
            nn.utils.clip_grad_value_(params, max_value)
        return nn.utils.clip_grad_norm_(params, max_norm or math.inf, norm_type)
    values = []  # in-place views: dense grads, or the values of coalesced sparse grads
    for p, g in pairs:
        if g.is_sparse:
            p.grad = g = g.coalesce()
            values.append(g.values())
        else:
            values.append(g)
    if max_value is not None:
        for v in values:
            v.clamp_(-max_value, max_value)
    norms = torch.stack(
        [torch.linalg.vector_norm(v, norm_type).to(values[0].device) for v in values]
    )
    total = torch.linalg.vector_norm(norms, norm_type)
    if max_norm is not None:
        coef = (max_norm / (total + 1e-6)).clamp(max=1.0)
        for v in values:
            v.mul_(coef.to(v.device))
    return total
