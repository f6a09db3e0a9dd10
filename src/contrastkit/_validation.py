"""Input checks shared by every public function.

Each check raises ``ValueError`` or ``TypeError`` that names the argument and the
offending value, so that bad input never surfaces as a shape error from deep
inside torch. Checks are cheap (shape and dtype inspection); the ones that read
tensor values (:func:`check_finite`, :func:`check_index_range`) are opt-in.
"""

from __future__ import annotations

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


def check_choice(name: str, value: object, choices: Sequence[T]) -> T:
    """``value`` must be one of ``choices`` (strings)."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")
    return value  # type: ignore[return-value]


def check_finite(name: str, value: Tensor) -> None:
    """Raise if any element is NaN or infinite (reads the values)."""
    if value.is_floating_point() and not bool(torch.isfinite(value).all()):
        raise ValueError(f"{name} contains NaN or infinite values")


def check_index_range(name: str, index: Tensor, size: int) -> None:
    """Every entry of an integer index tensor must lie in ``[0, size)``."""
    if index.dtype not in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8):
        raise TypeError(f"{name} must be an integer tensor, got dtype {index.dtype}")
    if index.numel() == 0:
        return
    lo, hi = int(index.min()), int(index.max())
    if lo < 0 or hi >= size:
        raise ValueError(f"{name} has entries outside [0, {size}): min {lo}, max {hi}")


def check_edge_index(name: str, edge_index: object, num_nodes: int | None = None) -> Tensor:
    """A PyG-style ``LongTensor[2, E]`` whose ids lie in ``[0, num_nodes)``."""
    ei = check_tensor(name, edge_index, ndim=2)
    if ei.shape[0] != 2:
        raise ValueError(f"{name} must have shape [2, E], got {tuple(ei.shape)}")
    if ei.is_floating_point() or ei.dtype == torch.bool:
        raise TypeError(f"{name} must be an integer tensor, got dtype {ei.dtype}")
    if num_nodes is not None:
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
