"""A small WordNet noun slice written in WordNet's own file format, for text tests.

Hierarchy (hypernym edges child -> parent; lexicographer file in brackets)::

    entity [Tops]
    ├── organism [Tops]
    │   ├── animal [animal]  ── dog [animal] ── puppy [animal]
    │   │                    ├─ cat [animal]
    │   │                    └─ bird [animal] ── sparrow [animal]
    │   └── plant [plant]    ── tree [plant] ── oak [plant]
    │                        └─ flower [plant] ── rose [plant]
    ├── artifact [artifact]  ── car [artifact]
    │                        ├─ piggy bank (lemma "bank", sense 2) [artifact]
    │                        └─ lamp [artifact]
    └── group [group]        ── bank (sense 1) [group]
                             └─ team [group]
    Rex [animal] is an instance of dog.

Glosses carry usage examples (``; "..."``) for dog, cat, car and bank.1.
"""

from __future__ import annotations

from pathlib import Path

import torch

# name -> (lexfile, lemmas, parent name or None, gloss, instance_of)
SYNSETS: list[tuple[str, int, tuple[str, ...], str | None, str, bool]] = [
    ("entity", 3, ("entity",), None, "that which exists", False),
    ("organism", 3, ("organism", "being"), "entity", "a living thing", False),
    ("animal", 5, ("animal", "beast"), "organism", "a living organism that moves", False),
    (
        "dog",
        5,
        ("dog", "domestic_dog"),
        "animal",
        'a domesticated carnivore; "the dog barked all night"',
        False,
    ),
    ("puppy", 5, ("puppy",), "dog", "a young dog", False),
    (
        "cat",
        5,
        ("cat", "true_cat"),
        "animal",
        'a small feline mammal; "the cat sat"; "cats purr"',
        False,
    ),
    ("bird", 5, ("bird",), "animal", "a warm-blooded egg-laying vertebrate with wings", False),
    ("sparrow", 5, ("sparrow",), "bird", "a small brown songbird", False),
    ("plant", 20, ("plant", "flora"), "organism", "a living organism without locomotion", False),
    ("tree", 20, ("tree",), "plant", "a tall perennial woody plant", False),
    ("oak", 20, ("oak", "oak_tree"), "tree", "a tree bearing acorns", False),
    ("flower", 20, ("flower",), "plant", "a plant cultivated for its blooms", False),
    ("rose", 20, ("rose", "rosebush"), "flower", "a shrub with prickly stems", False),
    ("artifact", 6, ("artifact", "artefact"), "entity", "a man-made object", False),
    (
        "car",
        6,
        ("car", "auto", "automobile"),
        "artifact",
        'a motor vehicle with four wheels; "he needs a car to get to work"',
        False,
    ),
    ("piggy", 6, ("bank", "piggy_bank"), "artifact", "a container for keeping coins", False),
    ("lamp", 6, ("lamp",), "artifact", "a source of artificial light", False),
    (
        "group",
        14,
        ("group", "grouping"),
        "entity",
        "a number of things considered as a unit",
        False,
    ),
    (
        "bank",
        14,
        ("bank", "depository_financial_institution"),
        "group",
        'a financial institution that accepts deposits; "he cashed a check at the bank"',
        False,
    ),
    ("team", 14, ("team", "squad"), "group", "a cooperative unit", False),
    ("rex", 5, ("Rex",), "dog", "a famous dog of the films", True),
]


def offset_of(i: int) -> int:
    """Synthetic, increasing synset offsets (the loader needs only that)."""
    return 1000 + 100 * i


def write_wordnet_slice(root: Path) -> Path:
    """Write ``data.noun`` and ``index.noun`` for :data:`SYNSETS` under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    pos = {name: i for i, (name, *_rest) in enumerate(SYNSETS)}
    lines = ["  header line of the license\n"]
    senses: dict[str, list[int]] = {}
    for i, (_name, lexfile, lemmas, parent, gloss, instance) in enumerate(SYNSETS):
        words = " ".join(f"{lemma} 0" for lemma in lemmas)
        if parent is None:
            ptrs = "000"
        else:
            sym = "@i" if instance else "@"
            ptrs = f"001 {sym} {offset_of(pos[parent]):08d} n 0000"
        lines.append(
            f"{offset_of(i):08d} {lexfile:02d} n {len(lemmas):02x} {words} {ptrs} | {gloss}  \n"
        )
        for lemma in lemmas:
            senses.setdefault(lemma.lower(), []).append(offset_of(i))
    (root / "data.noun").write_text("".join(lines), encoding="utf-8")
    index = ["  header line of the license\n"]
    for lemma in sorted(senses):
        offs = senses[lemma]
        index.append(
            f"{lemma} n {len(offs)} 1 @ {len(offs)} 0 "
            + " ".join(f"{o:08d}" for o in offs)
            + "  \n"
        )
    (root / "index.noun").write_text("".join(index), encoding="utf-8")
    return root


def hash_encode(texts: list[str] | tuple[str, ...], dim: int = 64) -> torch.Tensor:
    """A deterministic, script-agnostic bag of character trigrams (crc32-hashed into
    ``dim`` signed buckets), L2-normalised: similar strings get similar vectors.
    A stand-in encoder for tests of mining and evaluation plumbing."""
    import zlib

    out = torch.zeros(len(texts), dim)
    for i, text in enumerate(texts):
        padded = f"  {text}  "
        for j in range(len(padded) - 2):
            h = zlib.crc32(padded[j : j + 3].encode("utf-8"))
            out[i, h % dim] += 1.0 if (h >> 16) & 1 else -1.0
    return torch.nn.functional.normalize(out, dim=1)


def wordnet_text_settings(root: Path) -> list[str]:
    """The overrides of a text pairs run on the WordNet directory ``root`` (a slice)."""
    return [
        "task.kind=pairs",
        "pairs.source=wordnet_text",
        f"pairs.path={root}",
        "encoder.kind=text",
    ]
