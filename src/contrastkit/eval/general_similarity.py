r"""General similarity benchmarks bundled with gensim: SimLex-999 and Lee-50.

A check that fine-tuning an encoder on one task does not collapse its general
notion of similarity: Spearman's :math:`\rho` between the encoder's cosine
similarities and human judgements on

* **SimLex-999** (Hill, Reichart & Korhonen 2015): 999 word pairs with mean
  human similarity ratings (``gensim/test/test_data/simlex999.txt``);
* **Lee-50** (Lee, Pincombe & Welsh 2005): 50 short news documents
  (``lee.cor``, Latin-1) and the 50 x 50 matrix of mean human similarities
  (``similarities0-1.txt``); the 1,225 pairs above the diagonal are scored.

The files are read from the installed gensim package's test data without
importing gensim; every function returns ``None`` when gensim (or a file) is
absent, so callers skip instead of failing.

Spearman's :math:`\rho` is Pearson's correlation of the ranks, ties given their
average rank (as ``scipy.stats.spearmanr``).

Example:
    >>> spearman(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([10.0, 30.0, 20.0]))
    0.5
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

Encode = Callable[[Sequence[str]], Tensor]
SIMLEX_FILE = "simlex999.txt"
LEE_CORPUS_FILE = "lee.cor"
LEE_HUMAN_FILE = "similarities0-1.txt"


def gensim_test_data() -> Path | None:
    """gensim's ``test/test_data`` directory, or ``None`` when gensim is not installed."""
    spec = importlib.util.find_spec("gensim")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "test" / "test_data"
    return path if path.is_dir() else None


def gensim_available() -> bool:
    """Whether gensim's bundled similarity data can be read."""
    data = gensim_test_data()
    return data is not None and (data / SIMLEX_FILE).is_file()


def _average_ranks(x: Tensor) -> Tensor:
    """1-based ranks of ``x [n]`` with ties given their mean rank (float64)."""
    _, inverse, counts = torch.unique(x, sorted=True, return_inverse=True, return_counts=True)
    last = torch.cumsum(counts, 0).to(torch.float64)  # rank of each value's last copy
    mean_rank = last - (counts.to(torch.float64) - 1) / 2
    return mean_rank[inverse]


def spearman(x: Tensor, y: Tensor) -> float:
    """Spearman's rank correlation of ``x [n]`` and ``y [n]`` (ties averaged)."""
    if x.shape != y.shape or x.dim() != 1 or x.numel() < 2:
        raise ValueError(f"x and y must be 1-D of equal length >= 2, got {x.shape} and {y.shape}")
    rx = _average_ranks(x.detach().to(torch.float64))
    ry = _average_ranks(y.detach().to(torch.float64))
    rx, ry = rx - rx.mean(), ry - ry.mean()
    denom = torch.sqrt((rx * rx).sum() * (ry * ry).sum())
    if float(denom) == 0.0:
        raise ValueError("spearman is undefined for a constant input")
    return float((rx * ry).sum() / denom)


def read_simlex(path: Path) -> tuple[list[str], list[str], Tensor]:
    """``(words_a, words_b, human [n])`` from a SimLex-999 file (``#`` lines skipped)."""
    a: list[str] = []
    b: list[str] = []
    scores: list[float] = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        try:
            a.append(parts[0])
            b.append(parts[1])
            scores.append(float(parts[2]))
        except (IndexError, ValueError) as err:
            raise ValueError(f"{path}: malformed line {lineno}: {line[:60]!r}") from err
    return a, b, torch.tensor(scores, dtype=torch.float64)


def read_lee(corpus: Path, human: Path) -> tuple[list[str], Tensor]:
    """``(documents [50], human [50, 50])`` of the Lee corpus (Latin-1 text)."""
    docs = [line.strip() for line in corpus.read_bytes().decode("latin-1").splitlines()]
    docs = [d for d in docs if d]
    rows = [
        [float(v) for v in line.split()]
        for line in human.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    matrix = torch.tensor(rows, dtype=torch.float64)
    if matrix.shape != (len(docs), len(docs)):
        raise ValueError(
            f"{human}: expected a {len(docs)} x {len(docs)} matrix, got {tuple(matrix.shape)}"
        )
    return docs, matrix


def _encode_unique(
    encode: Encode, texts: Sequence[str], batch_size: int
) -> tuple[Tensor, dict[str, int]]:
    from contrastkit.mining.text_triplets import encode_texts

    index: dict[str, int] = {}
    for t in texts:
        index.setdefault(t, len(index))
    emb = F.normalize(encode_texts(encode, list(index), batch_size), dim=1)
    return emb, index


def simlex_spearman(
    encode: Encode, *, path: Path | None = None, batch_size: int = 256
) -> float | None:
    """Spearman's :math:`\\rho` of cosine(word a, word b) against SimLex-999's ratings;
    ``None`` when the file (gensim) is absent."""
    data = gensim_test_data()
    file = path if path is not None else (None if data is None else data / SIMLEX_FILE)
    if file is None or not file.is_file():
        return None
    a, b, human = read_simlex(file)
    emb, index = _encode_unique(encode, a + b, batch_size)
    ia = torch.tensor([index[w] for w in a])
    ib = torch.tensor([index[w] for w in b])
    return spearman((emb[ia] * emb[ib]).sum(1), human)


def lee_spearman(
    encode: Encode,
    *,
    corpus: Path | None = None,
    human: Path | None = None,
    batch_size: int = 64,
) -> float | None:
    """Spearman's :math:`\\rho` of document cosine similarities against Lee-50's human
    similarities over the 1,225 pairs above the diagonal; ``None`` when absent."""
    data = gensim_test_data()
    cfile = corpus if corpus is not None else (None if data is None else data / LEE_CORPUS_FILE)
    hfile = human if human is not None else (None if data is None else data / LEE_HUMAN_FILE)
    if cfile is None or hfile is None or not cfile.is_file() or not hfile.is_file():
        return None
    docs, matrix = read_lee(cfile, hfile)
    from contrastkit.mining.text_triplets import encode_texts

    emb = F.normalize(encode_texts(encode, docs, batch_size), dim=1).to(torch.float64)
    iu = torch.triu_indices(len(docs), len(docs), offset=1)
    sims = (emb @ emb.T)[iu[0], iu[1]]
    return spearman(sims, matrix[iu[0], iu[1]])


def general_similarity(encode: Encode) -> dict[str, float]:
    """``{"simlex999/spearman", "lee50/spearman"}`` for those whose data is installed
    (an empty dict without gensim)."""
    out: dict[str, float] = {}
    simlex = simlex_spearman(encode)
    if simlex is not None:
        out["simlex999/spearman"] = simlex
    lee = lee_spearman(encode)
    if lee is not None:
        out["lee50/spearman"] = lee
    return out
