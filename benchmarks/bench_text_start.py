"""Step 0 of a text run: the time from ``Trainer.fit()`` to the end of the first step.

Before its first update a text run reads the starting model several times: the
``encoder.projection`` fit, the start evaluation and snapshots, the mining pool and
``distill``'s targets. This times that stretch on a real config (default
``configs/wordnet_glosses_minilm.yaml``) and counts the texts the model encoded in
it (inference passes, eval mode), so two versions of the code can be compared by
running the same command with each on ``PYTHONPATH``::

    OMP_NUM_THREADS=1 python benchmarks/bench_text_start.py \\
        --config configs/wordnet_glosses_minilm.yaml --set loop.num_threads=1

Building the trainer (WordNet, the model) is not timed. Reported: wall seconds and
CPU seconds (``time.process_time``: less sensitive to a shared machine's load) of
step 0, the strings encoded, and how often each training text was encoded
(``{times: texts}``; 1 is one pass). Nothing after the first step runs.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import Counter
from typing import Any

import torch


class _FirstStepDone(Exception):
    """Raised after the first step to leave ``fit`` there."""


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="configs/wordnet_glosses_minilm.yaml")
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    args = parser.parse_args(argv)

    from contrastkit.train.config import load_config
    from contrastkit.train.trainer import Trainer

    run_dir = tempfile.mkdtemp(prefix="bench_text_start.")
    config = load_config(
        args.config,
        [*args.overrides, f"output.run_dir={run_dir}", "loop.progress=false"],
    )
    trainer = Trainer(config, run_dir)
    text: Any = trainer.encoder.text
    tokenize = text.tokenize
    encoded: Counter[str] = Counter()

    def counted(texts: list[str]) -> dict[str, Any]:
        if not text.training:  # inference passes; the first step's training pass is not
            encoded.update(texts)
        return tokenize(texts)

    text.tokenize = counted
    step = trainer.train_step

    def first_step(idx: torch.Tensor) -> dict[str, Any]:
        record = step(idx)
        raise _FirstStepDone(record)

    trainer.train_step = first_step  # type: ignore[method-assign]
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        trainer.fit()
    except _FirstStepDone:
        pass
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    task: Any = trainer.task
    rows = task.train_rows
    ids = torch.unique(torch.cat([task.anchor[rows], task.positive[rows]]))
    times = Counter(encoded[task.texts[i]] for i in ids.tolist())
    result = {
        "config": args.config,
        "overrides": args.overrides,
        "threads": torch.get_num_threads(),
        "step0_wall_s": round(wall, 1),
        "step0_cpu_s": round(cpu, 1),
        "strings_encoded": sum(encoded.values()),
        "texts": len(task.texts),
        "training_texts": int(ids.numel()),
        "training_text_passes": dict(sorted(times.items())),
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
