"""Prototypical networks: classify a query by its distance to each class's mean support
embedding.

For support embeddings ``s_{c,j}`` (class ``c``, shot ``j``) the prototypes are
``p_c = (1/k) sum_j s_{c,j}`` and a query ``z`` scores

.. math::
    \\ell_c(z) = -\\lVert z - p_c \\rVert_2^2 \\quad\\text{(sqeuclidean)}, \\qquad
    \\ell_c(z) = \\frac{\\cos(z, p_c)}{\\tau} \\quad\\text{(cosine)},

trained with cross-entropy on the logits ``l [Q, n]`` (Snell et al. 2017 found the
squared Euclidean distance better than cosine; the cosine form needs the temperature
``tau``). Nothing is adapted per episode: the encoder's embedding is the whole learner.

Example:
    >>> s = torch.randn(5, 3, 8)                 # 5 classes, 3 shots, d = 8
    >>> protonet_logits(s, torch.randn(7, 8)).shape
    torch.Size([7, 5])

Reference: J. Snell, K. Swersky and R. Zemel, "Prototypical networks for few-shot
learning", NeurIPS 2017.
"""

from __future__ import annotations

from typing import Literal

import torch.nn.functional as F
from torch import Tensor

from contrastkit._validation import check_choice, check_float_tensor, check_positive, check_same_dim

ProtoDistance = Literal["sqeuclidean", "cosine"]


def prototypes(support: Tensor) -> Tensor:
    """Class means ``[n, d]`` of support embeddings ``[n, k, d]``."""
    check_float_tensor("support", support, ndim=3)
    return support.mean(dim=1)


def protonet_logits(
    support: Tensor,
    query: Tensor,
    distance: ProtoDistance = "sqeuclidean",
    temperature: float = 0.1,
) -> Tensor:
    """Logits ``[Q, n]`` of queries ``[Q, d]`` against the prototypes of ``support``
    ``[n, k, d]`` (see the module formula); ``temperature`` divides cosine scores only.

    The squared distance is expanded as ``|z|^2 - 2 z.p + |p|^2`` (one matrix product);
    it is clamped at 0, where rounding can make it slightly negative."""
    check_choice("distance", distance, ("sqeuclidean", "cosine"))
    check_float_tensor("query", query, ndim=2)
    protos = prototypes(support)
    check_same_dim("support", protos, "query", query)
    if distance == "cosine":
        check_positive("temperature", temperature)
        return F.normalize(query, dim=-1) @ F.normalize(protos, dim=-1).T / temperature
    sq = (
        query.pow(2).sum(-1, keepdim=True) - 2.0 * query @ protos.T + protos.pow(2).sum(-1)
    ).clamp_min(0.0)
    return -sq


def protonet_loss(
    support: Tensor,
    query: Tensor,
    query_labels: Tensor,
    distance: ProtoDistance = "sqeuclidean",
    temperature: float = 0.1,
) -> Tensor:
    """Mean cross-entropy of :func:`protonet_logits` against ``query_labels [Q]``
    (episode-local classes ``0..n-1``)."""
    return F.cross_entropy(protonet_logits(support, query, distance, temperature), query_labels)
