"""Input checks shared by every public function.

Each check raises ``ValueError`` or ``TypeError`` that names the argument and the
offending value, so that bad input never surfaces as a shape error from deep
inside torch. Checks are cheap (shape and dtype inspection); the ones that read
tensor values (:func:`check_finite`, :func:`check_index_range`) are opt-in.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import TypeVar

import torch
from torch import Tensor

T = TypeVar("T", bound=str)


def check_tensor(name: str, value: object, ndim: int | Sequence[int] | None = None) -> Tensor:
    """Return ``value`` if it is a tensor of the allowed rank(s), else raise.

    >>> check_tensor("x", torch.zeros(2, 3), ndim=2).shape
    torch.Size([2, 3])
    """
    if not isinstance(value, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if value.dim() not in allowed:
            want = " or ".join(str(a) for a in allowed)
            raise ValueError(f"{name} must have {want} dimensions, got shape {tuple(value.shape)}")
    return value


def check_float_tensor(name: str, value: object, ndim: int | Sequence[int] | None = None) -> Tensor:
    """Like :func:`check_tensor`, and the dtype must be floating point."""
    t = check_tensor(name, value, ndim)
    if not t.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {t.dtype}")
    return t


def check_same_dim(name_a: str, a: Tensor, name_b: str, b: Tensor) -> None:
    """Both tensors must agree in their last (embedding) dimension."""
    if a.shape[-1] != b.shape[-1]:
        raise ValueError(
            f"{name_b} has embedding dimension {b.shape[-1]} but {name_a} has {a.shape[-1]}"
        )


def check_same_shape(name_a: str, a: Tensor, name_b: str, b: Tensor) -> None:
    if a.shape != b.shape:
        raise ValueError(
            f"{name_b} must have the shape of {name_a} {tuple(a.shape)}, got {tuple(b.shape)}"
        )


def check_length(name: str, value: Tensor, expected: int, what: str = "rows") -> None:
    """``value.shape[0]`` must equal ``expected``."""
    if value.shape[0] != expected:
        raise ValueError(f"{name} must have {expected} {what}, got {value.shape[0]}")


def check_positive(name: str, value: float, *, allow_zero: bool = False) -> float:
    """A finite number > 0 (or >= 0 with ``allow_zero``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    v = float(value)
    ok = v >= 0 if allow_zero else v > 0
    if not ok or v != v or v in (float("inf"), float("-inf")):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be finite and {bound}, got {value!r}")
    return v


def check_non_negative(name: str, value: float) -> float:
    return check_positive(name, value, allow_zero=True)


def check_positive_int(name: str, value: int, *, allow_zero: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be {bound}, got {value}")
    return value


def check_int_like(name: str, value: object, *, low: int | None = 0) -> int:
    """An integer read back from a saved state: a Python ``int``, a numpy integer or a
    0-dim integer tensor (anything with ``__index__``, ``bool`` excluded), ``>= low``."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got bool {value!r}")
    try:
        v = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}") from None
    if low is not None and v < low:
        raise ValueError(f"{name} must be >= {low}, got {v}")
    return v


def check_choice(name: str, value: object, choices: Sequence[T]) -> T:
    """``value`` must be one of ``choices`` (strings)."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")
    return value  # type: ignore[return-value]


def check_finite(name: str, value: Tensor) -> None:
    """Raise if any element is NaN or infinite (reads the values)."""
    if value.is_floating_point() and not bool(torch.isfinite(value).all()):
        raise ValueError(f"{name} contains NaN or infinite values")


INTEGER_DTYPES = (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8)


def check_integer_tensor(
    name: str, value: object, ndim: int | Sequence[int] | None = None
) -> Tensor:
    """Like :func:`check_tensor`, and the dtype must be an integer type (not bool)."""
    t = check_tensor(name, value, ndim)
    if t.dtype not in INTEGER_DTYPES:
        raise TypeError(f"{name} must be an integer tensor, got dtype {t.dtype}")
    return t


def index_bounds(index: Tensor) -> tuple[int, int]:
    """``(min, max)`` of a non-empty integer tensor with one reduction and one sync."""
    lo, hi = torch.aminmax(index.reshape(-1))
    bounds = torch.stack([lo.to(torch.int64), hi.to(torch.int64)]).tolist()
    return int(bounds[0]), int(bounds[1])


def check_index_range(name: str, index: Tensor, size: int) -> None:
    """Every entry of an integer index tensor must lie in ``[0, size)``.

    One ``aminmax`` reduction and one host sync; empty tensors pass.
    """
    if not isinstance(index, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(index).__name__}")
    if index.dtype not in INTEGER_DTYPES:
        raise TypeError(f"{name} must be an integer tensor, got dtype {index.dtype}")
    if index.numel() == 0:
        return
    lo, hi = index_bounds(index)
    if lo < 0 or hi >= size:
        raise ValueError(f"{name} has entries outside [0, {size}): min {lo}, max {hi}")


def check_broadcastable(name_a: str, a: Tensor, name_b: str, b: Tensor) -> tuple[int, ...]:
    """The broadcast shape of ``a`` and ``b`` (pure Python on the shapes, no tensor op);
    raise a ``ValueError`` naming both when they do not broadcast."""
    sa, sb = tuple(a.shape), tuple(b.shape)
    if sa == sb:
        return sa
    out = []
    for i in range(1, max(len(sa), len(sb)) + 1):
        da = sa[-i] if i <= len(sa) else 1
        db = sb[-i] if i <= len(sb) else 1
        if da != db and da != 1 and db != 1:
            raise ValueError(
                f"{name_a} {sa} and {name_b} {sb} do not broadcast (dimension -{i}: {da} vs {db})"
            )
        out.append(db if da == 1 else da)
    return tuple(reversed(out))


def check_unit_interval(name: str, value: Tensor) -> None:
    """Every entry lies in ``[0, 1]`` (probability targets); NaN fails too. One
    ``aminmax`` and one host sync; bool and empty tensors pass."""
    if value.dtype == torch.bool or value.numel() == 0:
        return
    lo, hi = (float(v) for v in torch.stack(torch.aminmax(value.detach().reshape(-1))).tolist())
    if not (lo >= 0.0 and hi <= 1.0):
        raise ValueError(f"{name} must lie in [0, 1], got min {lo}, max {hi}")


def check_edge_index(name: str, edge_index: object, num_nodes: int | None = None) -> Tensor:
    """A PyG-style ``LongTensor[2, E]`` whose ids lie in ``[0, num_nodes)``."""
    ei = check_tensor(name, edge_index, ndim=2)
    if ei.shape[0] != 2:
        raise ValueError(f"{name} must have shape [2, E], got {tuple(ei.shape)}")
    if ei.is_floating_point() or ei.dtype == torch.bool:
        raise TypeError(f"{name} must be an integer tensor, got dtype {ei.dtype}")
    if num_nodes is not None:
        check_positive_int("num_nodes", num_nodes, allow_zero=True)
        check_index_range(name, ei, num_nodes)
    elif ei.numel() and int(ei.min()) < 0:
        raise ValueError(f"{name} has negative node ids: min {int(ei.min())}")
    return ei


def check_weight(name: str, weight: Tensor | None, shape: torch.Size | tuple[int, ...]) -> None:
    """Optional per-sample weights must match ``shape`` and be non-negative."""
    if weight is None:
        return
    check_float_tensor(name, weight)
    if tuple(weight.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {tuple(weight.shape)}")
    if weight.numel() and bool((weight < 0).any()):
        raise ValueError(f"{name} must be non-negative, got min {float(weight.min())}")
