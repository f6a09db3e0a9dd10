"""The WordNet mammal closure, shipped as package data (no system package needed).

Two gzipped TSV files under ``contrastkit/data/resources/``:

- ``mammal_closure_nodes.tsv.gz``: one row per synset, columns ``offset``,
  ``name``, ``lexname``, ``lemmas`` (space separated), ``gloss``;
- ``mammal_closure_edges.tsv.gz``: ``child``, ``ancestor`` as 0-based row numbers
  of the node file.

They hold the transitive closure of the subtree under ``mammal.n.01`` of
WordNet 3.0 (hypernym and instance-hypernym pointers, no self-loops, the root
included): 1,182 nodes and 6,542 child -> ancestor edges. ``variant="nickel_kiela"``
drops ``tusker.n.01`` and ``female_mammal.n.01`` as Nickel & Kiela's released
file does (1,180 nodes, 6,540 edges). Regenerate with
``python scripts/regenerate_mammals.py`` (needs ``wordnet-base``).

Example:
    >>> g = load_mammals()
    >>> g.num_nodes, g.num_edges, g.names[0]
    (1182, 6542, 'mammal.n.01')

Reference: M. Nickel and D. Kiela, "Poincaré Embeddings for Learning Hierarchical
Representations", NeurIPS 2017.
"""

from __future__ import annotations

import gzip
import io
import os
from importlib import resources
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor

from contrastkit._validation import check_choice
from contrastkit.data.closure import NICKEL_KIELA_MAMMAL_EXCLUDE, induced_edges
from contrastkit.data.graph_data import GraphData
from contrastkit.data.wordnet import NOUN_LEXNAMES, WordNetNouns

NODES_FILE = "mammal_closure_nodes.tsv.gz"
EDGES_FILE = "mammal_closure_edges.tsv.gz"
MammalVariant = Literal["subtree", "nickel_kiela"]


def _read_rows(name: str, directory: str | os.PathLike[str] | None) -> list[list[str]]:
    if directory is None:
        raw = resources.files("contrastkit.data").joinpath("resources").joinpath(name).read_bytes()
    else:
        raw = Path(directory, name).read_bytes()
    text = gzip.decompress(raw).decode("utf-8")
    lines = text.splitlines()
    return [line.split("\t") for line in lines[1:] if line]


def load_mammals(
    variant: MammalVariant = "subtree", *, directory: str | os.PathLike[str] | None = None
) -> GraphData:
    """Load the shipped mammal closure.

    Args:
        variant: ``"subtree"`` (default, 1,182 nodes / 6,542 edges) or ``"nickel_kiela"``
            (1,180 / 6,540).
        directory: read the two files from here instead of the package data (e.g. the
            output of :func:`write_mammal_resources`).

    Returns:
        :class:`GraphData` with child -> ancestor ``edge_index`` ``[2, E]``, ``names``
        (``mammal.n.01`` first), ``y`` ``[N]`` the lexicographer class (index into the 26
        ``label_names``) and ``meta`` keys ``offsets`` (``[N]`` int64 WordNet ids),
        ``lemmas`` and ``glosses`` (lists of length ``N``).
    """
    check_choice("variant", variant, ("subtree", "nickel_kiela"))
    rows = _read_rows(NODES_FILE, directory)
    pairs = _read_rows(EDGES_FILE, directory)
    edges = torch.tensor([[int(a), int(b)] for a, b in pairs], dtype=torch.int64)
    edge_index = edges.t().contiguous().reshape(2, -1)
    names = [r[1] for r in rows]
    keep = torch.ones(len(rows), dtype=torch.bool)
    if variant == "nickel_kiela":
        keep = torch.tensor([n not in NICKEL_KIELA_MAMMAL_EXCLUDE for n in names])
        nodes = torch.nonzero(keep).flatten()
        edge_index = induced_edges(edge_index, nodes, len(rows))
    kept = [r for r, k in zip(rows, keep.tolist(), strict=True) if k]
    lex_index = {name: i for i, name in enumerate(NOUN_LEXNAMES)}
    return GraphData(
        edge_index=edge_index,
        num_nodes=len(kept),
        y=torch.tensor([lex_index[r[2]] for r in kept], dtype=torch.int64),
        names=[r[1] for r in kept],
        label_names=list(NOUN_LEXNAMES),
        meta={
            "source": "wordnet-3.0 mammal.n.01 closure",
            "variant": variant,
            "offsets": torch.tensor([int(r[0]) for r in kept], dtype=torch.int64),
            "lemmas": [tuple(r[3].split(" ")) for r in kept],
            "glosses": [r[4] for r in kept],
        },
    )


def _gzip_text(path: Path, header: str, lines: list[str]) -> None:
    buf = io.BytesIO()
    # mtime=0 and no file name: regenerating from the same WordNet gives identical bytes.
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        gz.write(("\n".join([header, *lines]) + "\n").encode("utf-8"))
    path.write_bytes(buf.getvalue())


def write_mammal_resources(
    nouns: WordNetNouns, graph: GraphData, node_ids: Tensor, directory: str | os.PathLike[str]
) -> tuple[Path, Path]:
    """Write the two resource files for a subtree ``graph`` whose nodes are ``node_ids``
    ``[M]`` (indices into ``nouns``), as returned by
    :func:`~contrastkit.data.closure.wordnet_subtree_graph`. The root row comes first."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    root = nouns.index(str(graph.meta.get("root", "mammal.n.01")))
    # Root first, then WordNet offset order: row 0 is always the hierarchy's top.
    order = torch.argsort((node_ids != root).to(torch.int64) * (1 << 40) + nouns.offsets[node_ids])
    rank = torch.empty_like(order)
    rank[order] = torch.arange(order.numel())
    node_lines = []
    for i in node_ids[order].tolist():
        gloss = nouns.glosses[i].replace("\t", " ").replace("\n", " ")
        node_lines.append(
            "\t".join(
                [
                    str(int(nouns.offsets[i])),
                    nouns.names[i],
                    nouns.lexnames[int(nouns.lexclass[i])],
                    " ".join(nouns.lemmas[i]),
                    gloss,
                ]
            )
        )
    ei = rank[graph.edge_index]
    ei = ei[:, torch.argsort(ei[0] * graph.num_nodes + ei[1])]
    edge_lines = [f"{a}\t{b}" for a, b in ei.t().tolist()]
    nodes_path, edges_path = out / NODES_FILE, out / EDGES_FILE
    _gzip_text(nodes_path, "offset\tname\tlexname\tlemmas\tgloss", node_lines)
    _gzip_text(edges_path, "child\tancestor", edge_lines)
    return nodes_path, edges_path
