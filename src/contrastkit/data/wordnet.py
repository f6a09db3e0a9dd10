"""WordNet 3.0 nouns parsed from WordNet's own database files (no nltk).

Reads ``data.noun`` (one synset per line) and ``index.noun`` (lemma -> senses,
in sense order) as installed by the Debian/Ubuntu package ``wordnet-base``
under ``/usr/share/wordnet``. The directory is configurable through the
``root`` argument or the ``CONTRASTKIT_WORDNET_DIR`` environment variable.

For every noun synset we keep its byte offset (the WordNet id), lemmas, gloss,
lexicographer class (``lex_filenum`` 3..28 -> the 26 ``noun.*`` classes, a real
node label) and two edge lists pointing from a synset to its hypernyms:
``@`` (hypernym) and ``@i`` (instance hypernym). Synset names follow nltk's
convention, ``<first lemma, lower-cased>.n.<sense number of this synset in
that lemma's index.noun entry>``, e.g. ``mammal.n.01``.

Counts for WordNet 3.0: 82,115 noun synsets, 75,850 hypernym and 8,577
instance-hypernym pointers.

Example:
    >>> nouns = load_wordnet_nouns()  # doctest: +SKIP
    >>> dog = nouns.index("dog.n.01")  # doctest: +SKIP
    >>> nouns.num_nodes, nouns.lexnames[int(nouns.lexclass[dog])]  # doctest: +SKIP
    (82115, 'noun.animal')

Reference: G. A. Miller, "WordNet: a lexical database for English", CACM 1995;
file format in the ``wndb(5WN)`` manual page.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

DEFAULT_WORDNET_DIR = "/usr/share/wordnet"
WORDNET_ENV_VAR = "CONTRASTKIT_WORDNET_DIR"

#: The 26 noun lexicographer files, in ``lex_filenum`` order (3 = ``noun.Tops``).
NOUN_LEXNAMES: tuple[str, ...] = (
    "noun.Tops", "noun.act", "noun.animal", "noun.artifact", "noun.attribute",
    "noun.body", "noun.cognition", "noun.communication", "noun.event", "noun.feeling",
    "noun.food", "noun.group", "noun.location", "noun.motive", "noun.object",
    "noun.person", "noun.phenomenon", "noun.plant", "noun.possession", "noun.process",
    "noun.quantity", "noun.relation", "noun.shape", "noun.state", "noun.substance",
    "noun.time",
)  # fmt: skip
_FIRST_NOUN_LEXFILE = 3


class WordNetNotFoundError(FileNotFoundError):
    """The WordNet database files are not where we looked."""


def wordnet_dir(root: str | os.PathLike[str] | None = None) -> Path:
    """Resolve the WordNet directory: ``root``, else ``$CONTRASTKIT_WORDNET_DIR``, else
    ``/usr/share/wordnet``. Raises :class:`WordNetNotFoundError` (saying how to install
    it) when ``data.noun``/``index.noun`` are missing."""
    path = Path(root if root is not None else os.environ.get(WORDNET_ENV_VAR, DEFAULT_WORDNET_DIR))
    missing = [f for f in ("data.noun", "index.noun") if not (path / f).is_file()]
    if missing:
        raise WordNetNotFoundError(
            f"WordNet 3.0 database files {missing} not found in {str(path)!r}. "
            "Install them with `apt-get install wordnet-base` (Debian/Ubuntu), or pass "
            f"root=<dir with data.noun and index.noun> or set {WORDNET_ENV_VAR}."
        )
    return path


@dataclass(frozen=True)
class WordNetNouns:
    """All noun synsets of one WordNet install, indexed ``0..N-1`` in file order.

    Attributes:
        offsets: ``[N]`` int64 synset offsets (WordNet ids, ``data.noun`` byte offsets).
        names: nltk-style names (``dog.n.01``).
        lemmas: lemmas of each synset (underscores for spaces, case as in the file).
        glosses: definition and examples.
        lexclass: ``[N]`` int64 in ``[0, 26)``, index into :attr:`lexnames`.
        hypernyms: ``[2, E_h]`` int64, ``(synset, hypernym)`` pairs from ``@`` pointers.
        instance_hypernyms: ``[2, E_i]`` int64, ``(instance, class)`` pairs from ``@i``.
        lemma_offsets: lower-cased lemma -> synset offsets in sense order (``index.noun``).
    """

    offsets: Tensor
    names: list[str]
    lemmas: list[tuple[str, ...]]
    glosses: list[str]
    lexclass: Tensor
    hypernyms: Tensor
    instance_hypernyms: Tensor
    lemma_offsets: dict[str, list[int]]
    lexnames: tuple[str, ...] = NOUN_LEXNAMES

    @property
    def num_nodes(self) -> int:
        return len(self.names)

    def hierarchy_edges(self, *, instances: bool = True) -> Tensor:
        """Child -> parent edges ``[2, E]``: hypernyms, plus instance hypernyms by default."""
        if not instances:
            return self.hypernyms
        return torch.cat([self.hypernyms, self.instance_hypernyms], dim=1)

    def index(self, name: str) -> int:
        """Node index of a synset name ``lemma.n.NN`` (nltk's lookup rule: sense ``NN`` of
        ``lemma`` in ``index.noun`` order, so ``domestic_dog.n.01`` finds ``dog.n.01``)."""
        if not isinstance(name, str):
            raise TypeError(f"name must be a str, got {type(name).__name__}")
        lemma, sep, rest = name.rpartition(".n.")
        senses = self.lemma_offsets.get(lemma.lower()) if sep else None
        if senses is None or not rest.isdigit() or not 1 <= int(rest) <= len(senses):
            raise KeyError(f"no noun synset named {name!r}")
        offset = senses[int(rest) - 1]
        pos = int(torch.searchsorted(self.offsets, offset))
        if pos >= self.num_nodes or int(self.offsets[pos]) != offset:
            raise KeyError(f"{name!r} points to offset {offset}, which is not in data.noun")
        return pos


def _parse_index(path: Path) -> dict[str, list[int]]:
    senses: dict[str, list[int]] = {}
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if line.startswith("  "):  # license header
                continue
            parts = line.split()
            try:
                count = int(parts[2])
                senses[parts[0]] = [int(t) for t in parts[len(parts) - count :]]
            except (IndexError, ValueError) as err:
                raise ValueError(f"{path}: malformed index line {lineno}: {line[:80]!r}") from err
    return senses


def load_wordnet_nouns(root: str | os.PathLike[str] | None = None) -> WordNetNouns:
    """Parse ``data.noun`` and ``index.noun`` under ``root`` (see :func:`wordnet_dir`).

    Takes about a second for the 82,115 synsets. Raises :class:`WordNetNotFoundError` if
    the files are missing and ``ValueError`` naming file and line for a malformed line.
    """
    path = wordnet_dir(root)
    offsets: list[int] = []
    lexfile: list[int] = []
    lemmas: list[tuple[str, ...]] = []
    glosses: list[str] = []
    ptr_src: list[int] = []
    ptr_dst: list[int] = []
    ptr_kind: list[bool] = []  # True for '@i'
    data_path = path / "data.noun"
    with open(data_path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if line.startswith("  "):
                continue
            head, _, gloss = line.partition(" | ")
            p = head.split()
            try:
                off = int(p[0])
                words = int(p[3], 16)
                k = 4 + 2 * words
                n_ptr = int(p[k])
                ptrs = p[k + 1 : k + 1 + 4 * n_ptr]
                if len(ptrs) != 4 * n_ptr or words < 1:
                    raise ValueError("truncated pointer or word list")
                offsets.append(off)
                lexfile.append(int(p[1]))
            except (IndexError, ValueError) as err:
                raise ValueError(f"{data_path}: malformed synset line {lineno}: {err}") from err
            lemmas.append(tuple(p[4:k:2]))
            glosses.append(gloss.strip())
            # Pointer fields come in fours: symbol, target offset, pos, source/target.
            for sym, target, pos in zip(ptrs[0::4], ptrs[1::4], ptrs[2::4], strict=True):
                if pos == "n" and sym in ("@", "@i"):
                    ptr_src.append(off)
                    ptr_dst.append(int(target))
                    ptr_kind.append(sym == "@i")
    if not offsets:
        raise ValueError(f"{data_path} contains no synsets")
    off_t = torch.tensor(offsets, dtype=torch.int64)
    if off_t.numel() > 1 and not bool((off_t[1:] > off_t[:-1]).all()):
        raise ValueError(f"{data_path}: synset offsets are not increasing (corrupted file?)")

    def to_index(values: Tensor) -> Tensor:
        # Offsets are increasing byte positions: a binary search maps them to node indices.
        pos = torch.searchsorted(off_t, values).clamp_max(len(offsets) - 1)
        if values.numel() and not bool((off_t[pos] == values).all()):
            raise ValueError(f"{data_path}: a pointer targets an unknown synset offset")
        return pos

    src = to_index(torch.tensor(ptr_src, dtype=torch.int64))
    dst = to_index(torch.tensor(ptr_dst, dtype=torch.int64))
    inst = torch.tensor(ptr_kind, dtype=torch.bool)
    lex = torch.tensor(lexfile, dtype=torch.int64) - _FIRST_NOUN_LEXFILE
    if bool(((lex < 0) | (lex >= len(NOUN_LEXNAMES))).any()):
        raise ValueError(f"{data_path}: lex_filenum outside the noun range 3..28")
    index_offsets = _parse_index(path / "index.noun")
    names = []
    for i, words_i in enumerate(lemmas):
        first = words_i[0].lower()
        rank = index_offsets[first].index(offsets[i]) + 1 if first in index_offsets else 1
        names.append(f"{first}.n.{rank:02d}")
    return WordNetNouns(
        offsets=off_t,
        names=names,
        lemmas=lemmas,
        glosses=glosses,
        lexclass=lex,
        hypernyms=torch.stack([src[~inst], dst[~inst]]),
        instance_hypernyms=torch.stack([src[inst], dst[inst]]),
        lemma_offsets=index_offsets,
    )
