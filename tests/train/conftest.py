"""Fixtures of the text-task tests: the tiny random BERT and the compositional pairs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.text_tiny import compositional_pairs, tiny_model, write_jsonl


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny BERT of :func:`tests.text_tiny.tiny_model` (built per test module)."""
    return tiny_model(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def pairs_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """:func:`tests.text_tiny.compositional_pairs` as a JSONL file."""
    return write_jsonl(tmp_path_factory.mktemp("data") / "pairs.jsonl", compositional_pairs())
