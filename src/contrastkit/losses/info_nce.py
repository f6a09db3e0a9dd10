"""``nn.Module`` wrappers for InfoNCE and its multi-positive (NT-Xent with labels) form.

They hold hyper-parameters and call :mod:`contrastkit.functional.info_nce` (or
:mod:`contrastkit.functional.tiled_info_nce` when ``tiled=True``). The temperature is a
float (fixed; a scheduler may assign a new value) or a
:class:`~contrastkit.losses.temperature.Temperature` module (learnable, registered as a
sub-module so that its parameter reaches the optimiser and the ``state_dict``).
"""

from __future__ import annotations

from torch import Tensor, nn

from contrastkit.functional.distances import Distance, get_distance
from contrastkit.functional.info_nce import check_temperature, info_nce, supervised_info_nce
from contrastkit.functional.reduction import check_reduction
from contrastkit.functional.tiled_info_nce import check_tiling, tiled_info_nce
from contrastkit.losses.temperature import Temperature


def resolve_temperature(temperature: float | Temperature, learnable: bool) -> float | Temperature:
    """Validate a temperature argument; wrap it in a learnable :class:`Temperature`
    when ``learnable`` is set."""
    if isinstance(temperature, Temperature):
        return temperature
    value = float(check_temperature(temperature))
    if not learnable:
        return value
    return Temperature(value, min_value=min(value, 0.01), max_value=max(value, 1.0))


def current_temperature(temperature: float | Temperature) -> float | Tensor:
    """The value to pass to a functional loss."""
    return temperature() if isinstance(temperature, Temperature) else temperature


class InfoNCELoss(nn.Module):
    r"""InfoNCE with explicit negatives ``[B, K, d]`` or in-batch negatives.

    .. math::
        \ell_i = \operatorname{logsumexp}_{c \in C_i} s(a_i, c)/\tau - s(a_i, p_i)/\tau

    See :func:`contrastkit.functional.info_nce.info_nce` for the candidate sets, masks
    and the degenerate cases (van den Oord et al. 2018; with ``distance="poincare"``
    Nickel & Kiela 2017).

    Args:
        temperature: float > 0 or a :class:`Temperature`. Default 0.07.
        learnable_temperature: wrap a float temperature in a learnable
            :class:`Temperature` (CLIP style). Default False.
        distance: name or :class:`Distance`. Default ``"cosine"``.
        symmetric: in-batch only; average with the positive-to-anchor direction.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``. Default ``"mean"``.
        tiled: compute the in-batch form in tiles (never stores the ``[B, B]`` logits;
            masks unsupported). Default False.
        tile_size, memory_budget: tiling controls (see
            :func:`~contrastkit.functional.tiled_info_nce.tiled_info_nce`).

    Shapes (forward): ``anchors [B, d]``, ``positives [B, d]``, ``negatives [B, K, d]``
    or ``None``; ``negative_mask``/``false_negative_mask`` bool ``[B, K]`` (``[B, B]``
    in-batch); ``weight [B]``. Returns a scalar or ``[B]``.

    Example:
        >>> loss = InfoNCELoss(temperature=0.1)
        >>> loss(torch.randn(4, 8), torch.randn(4, 8)).shape
        torch.Size([])
    """

    def __init__(
        self,
        temperature: float | Temperature = 0.07,
        *,
        learnable_temperature: bool = False,
        distance: str | Distance = "cosine",
        symmetric: bool = False,
        reduction: str = "mean",
        tiled: bool = False,
        tile_size: int | None = None,
        memory_budget: int | None = None,
    ) -> None:
        super().__init__()
        self.temperature = resolve_temperature(temperature, learnable_temperature)
        self.distance = get_distance(distance)
        self.symmetric = bool(symmetric)
        self.reduction = check_reduction(reduction)
        self.tiled = bool(tiled)
        self.tile_size, self.memory_budget = check_tiling(tile_size, memory_budget)

    def forward(
        self,
        anchors: Tensor,
        positives: Tensor,
        negatives: Tensor | None = None,
        *,
        negative_mask: Tensor | None = None,
        false_negative_mask: Tensor | None = None,
        weight: Tensor | None = None,
    ) -> Tensor:
        t = current_temperature(self.temperature)
        if self.tiled and negatives is None:
            if negative_mask is not None or false_negative_mask is not None:
                raise ValueError("false_negative_mask is not supported with tiled=True")
            return tiled_info_nce(
                anchors,
                positives,
                temperature=t,
                distance=self.distance,
                symmetric=self.symmetric,
                tile_size=self.tile_size,
                memory_budget=self.memory_budget,
                reduction=self.reduction,
                weight=weight,
            )
        return info_nce(
            anchors,
            positives,
            negatives,
            negative_mask=negative_mask,
            false_negative_mask=false_negative_mask,
            temperature=t,
            distance=self.distance,
            symmetric=self.symmetric,
            reduction=self.reduction,
            weight=weight,
        )

    def extra_repr(self) -> str:
        t = self.temperature if isinstance(self.temperature, float) else "learnable"
        return f"temperature={t}, distance={self.distance!r}, symmetric={self.symmetric}"


class SupervisedInfoNCELoss(nn.Module):
    r"""Multi-positive InfoNCE (NT-Xent with labels / SupCon-style averaging).

    .. math::
        \ell_i = \frac{1}{|P(i)|}\sum_{j \in P(i)}
            -\log \frac{e^{S_{ij}}}{e^{S_{ij}} + \sum_{n \in N(i)} e^{S_{in}}}

    See :func:`contrastkit.functional.info_nce.supervised_info_nce` (Khosla et al.
    2020; the per-positive denominator of pytorch-metric-learning's ``NTXentLoss``).

    Args: ``temperature``, ``learnable_temperature``, ``distance``, ``reduction`` as in
    :class:`InfoNCELoss`.

    Shapes (forward): ``anchors [B, d]``; ``labels [B]`` or ``positive_mask [B, M]``;
    ``keys [M, d]`` or ``None`` (anchors against themselves); ``key_labels [M]``;
    ``false_negative_mask [B, M]``; ``weight [B]``. Returns a scalar or ``[B]``.

    Example:
        >>> loss = SupervisedInfoNCELoss(temperature=0.1)
        >>> loss(torch.randn(6, 8), torch.tensor([0, 0, 1, 1, 2, 2])).shape
        torch.Size([])
    """

    def __init__(
        self,
        temperature: float | Temperature = 0.07,
        *,
        learnable_temperature: bool = False,
        distance: str | Distance = "cosine",
        reduction: str = "mean",
    ) -> None:
        super().__init__()
        self.temperature = resolve_temperature(temperature, learnable_temperature)
        self.distance = get_distance(distance)
        self.reduction = check_reduction(reduction)

    def forward(
        self,
        anchors: Tensor,
        labels: Tensor | None = None,
        keys: Tensor | None = None,
        *,
        key_labels: Tensor | None = None,
        positive_mask: Tensor | None = None,
        false_negative_mask: Tensor | None = None,
        weight: Tensor | None = None,
    ) -> Tensor:
        return supervised_info_nce(
            anchors,
            keys,
            labels=labels,
            key_labels=key_labels,
            positive_mask=positive_mask,
            false_negative_mask=false_negative_mask,
            temperature=current_temperature(self.temperature),
            distance=self.distance,
            reduction=self.reduction,
            weight=weight,
        )

    def extra_repr(self) -> str:
        t = self.temperature if isinstance(self.temperature, float) else "learnable"
        return f"temperature={t}, distance={self.distance!r}"
