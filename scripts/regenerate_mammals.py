"""Regenerate the shipped WordNet mammal closure (package data of contrastkit.data).

Usage::

    apt-get install wordnet-base          # WordNet 3.0 under /usr/share/wordnet
    python scripts/regenerate_mammals.py [--wordnet-dir DIR] [--out DIR] [--root mammal.n.01]

Parses ``data.noun``/``index.noun``, takes the transitive closure of the noun
hierarchy (hypernym + instance-hypernym pointers, no self-loops: 743,241 edges),
extracts the subtree under the root (root included: 1,182 nodes and 6,542 edges
for ``mammal.n.01``) and writes ``mammal_closure_nodes.tsv.gz`` and
``mammal_closure_edges.tsv.gz`` into ``src/contrastkit/data/resources``.
The output is byte-for-byte reproducible (gzip mtime 0).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from contrastkit.data.closure import wordnet_closure_graph, wordnet_subtree_graph
from contrastkit.data.mammals import write_mammal_resources
from contrastkit.data.wordnet import load_wordnet_nouns

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "src" / "contrastkit" / "data" / "resources"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wordnet-dir", default=None, help="directory with data.noun")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="output directory")
    parser.add_argument("--root", default="mammal.n.01", help="subtree root synset")
    args = parser.parse_args(argv)
    nouns = load_wordnet_nouns(args.wordnet_dir)
    full = wordnet_closure_graph(nouns)
    print(f"noun closure: {full.num_nodes} nodes, {full.num_edges} edges")
    graph, node_ids = wordnet_subtree_graph(nouns, args.root, closure=full.edge_index)
    print(f"{args.root} subtree: {graph.num_nodes} nodes, {graph.num_edges} edges")
    for path in write_mammal_resources(nouns, graph, node_ids, args.out):
        print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
