"""``save_encoder`` / ``load_encoder``: an MLP or GNN written as config.json + weights
comes back as the same module (every constructor setting, outputs bit-equal), the
weights load with ``weights_only=True`` or through safetensors, the directory is
written whole, and a foreign or mismatched directory is refused naming the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

import contrastkit
from contrastkit.models import GNNEncoder, save_encoder
from contrastkit.models.mlp import MLP
from contrastkit.models.saved_encoder import (
    CONFIG_NAME,
    SAFETENSORS_NAME,
    TORCH_NAME,
    load_encoder,
    read_encoder_config,
)

EDGES = torch.tensor([[0, 1, 2, 3, 4, 1], [1, 2, 3, 4, 0, 3]])


def _trained_like(module: nn.Module) -> nn.Module:
    """Move every parameter and buffer off its initial value (a fresh module built
    from the config must not match by chance), then eval mode."""
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for tensor in [*module.parameters(), *module.buffers()]:
            if tensor.is_floating_point():
                tensor.add_(torch.rand(tensor.shape, generator=gen) * 0.5)
    return module.eval()


@pytest.mark.parametrize("safe", [True, False])
def test_an_mlp_round_trips_with_every_setting(tmp_path: Path, safe: bool) -> None:
    if safe:
        pytest.importorskip("safetensors")
    mlp = _trained_like(
        MLP(5, [7, 9], 3, activation="gelu", dropout=0.3, norm="batch", residual=True, bias=False)
    )
    path = save_encoder(mlp, tmp_path / "enc", metadata={"distance": "cosine"}, safetensors=safe)
    config = read_encoder_config(path)
    assert config["kind"] == "mlp" and config["metadata"] == {"distance": "cosine"}
    assert config["weights"] == (SAFETENSORS_NAME if safe else TORCH_NAME)
    loaded = contrastkit.load_encoder(path)
    assert isinstance(loaded, MLP) and not loaded.training
    assert loaded.init_args == mlp.init_args
    x = torch.randn(6, 5)
    assert torch.equal(loaded(x), mlp(x))
    # the batch-norm running statistics came back too (eval mode reads them)
    assert torch.equal(loaded.norms[0].running_mean, mlp.norms[0].running_mean)
    assert sorted(p.name for p in path.iterdir()) == sorted([CONFIG_NAME, config["weights"]])
    assert not list(tmp_path.glob(".enc.*"))  # no temporary left beside it


@pytest.mark.parametrize(
    "kwargs",
    [
        {"conv": "sage", "num_layers": 2, "norm": "layer", "residual": True},
        {"conv": "gat", "num_layers": 3, "heads": 2, "activation": "elu"},
        {"conv": "gcn", "num_layers": 1},
    ],
)
def test_a_gnn_round_trips(tmp_path: Path, kwargs: dict[str, object]) -> None:
    pytest.importorskip("torch_geometric")
    gnn = _trained_like(GNNEncoder(4, 8, 3, dropout=0.2, **kwargs))  # type: ignore[arg-type]
    path = save_encoder(gnn, tmp_path / "gnn")
    loaded = load_encoder(path)
    assert isinstance(loaded, GNNEncoder) and loaded.init_args == gnn.init_args
    x = torch.randn(5, 4)
    assert torch.equal(loaded(x, EDGES), gnn(x, EDGES))


def test_the_torch_weights_load_with_weights_only(tmp_path: Path) -> None:
    mlp = _trained_like(MLP(3, [4], 2))
    path = save_encoder(mlp, tmp_path / "enc", safetensors=False)
    state = torch.load(path / TORCH_NAME, weights_only=True)
    assert state.keys() == mlp.state_dict().keys()
    for key, value in mlp.state_dict().items():
        assert torch.equal(state[key], value)


def test_the_safetensors_weights_are_plain_safetensors(tmp_path: Path) -> None:
    st = pytest.importorskip("safetensors.torch")
    mlp = _trained_like(MLP(3, [4], 2))
    path = save_encoder(mlp, tmp_path / "enc")
    state = st.load_file(str(path / SAFETENSORS_NAME))
    for key, value in mlp.state_dict().items():
        assert torch.equal(state[key], value)


def test_an_empty_directory_is_filled_and_a_full_one_refused(tmp_path: Path) -> None:
    mlp = MLP(3, [], 2)
    (tmp_path / "empty").mkdir()
    save_encoder(mlp, tmp_path / "empty")
    assert (tmp_path / "empty" / CONFIG_NAME).is_file()
    with pytest.raises(FileExistsError, match="not empty"):
        save_encoder(mlp, tmp_path / "empty")
    (tmp_path / "file").write_text("x")
    with pytest.raises(FileExistsError, match="not a directory"):
        save_encoder(mlp, tmp_path / "file")
    with pytest.raises(TypeError, match="MLP, GNNEncoder"):
        save_encoder(nn.Linear(2, 2), tmp_path / "linear")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "file"]


def test_the_directory_and_files_get_the_umasks_mode(tmp_path: Path) -> None:
    """Not tempfile's private 0700: others can read a model as they can a mkdir'd one."""
    path = save_encoder(MLP(3, [], 2), tmp_path / "enc")
    (tmp_path / "ref").mkdir()
    (tmp_path / "ref" / "f").write_bytes(b"x")
    assert path.stat().st_mode & 0o777 == (tmp_path / "ref").stat().st_mode & 0o777
    for file in path.iterdir():
        assert file.stat().st_mode & 0o777 == (tmp_path / "ref" / "f").stat().st_mode & 0o777


def _edit_config(path: Path, **changes: object) -> None:
    config = json.loads((path / CONFIG_NAME).read_text())
    config.update(changes)
    (path / CONFIG_NAME).write_text(json.dumps(config))


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"format": "other"}, "not a contrastkit encoder config"),
        ({"format_version": 2}, "format_version must be 1"),
        ({"kind": "os.system"}, "kind must be one of"),
        ({"weights": "../../etc/passwd"}, "weights must be"),
        ({"init_args": {"in_dim": 3, "hidden_dims": [], "out_dim": 2, "colour": 1}}, "init_args"),
        ({"init_args": {"in_dim": 4, "hidden_dims": [], "out_dim": 2}}, "does not fit"),
    ],
)
def test_a_bad_directory_is_refused_naming_the_file(
    tmp_path: Path, changes: dict[str, object], match: str
) -> None:
    path = save_encoder(MLP(3, [], 2), tmp_path / "enc")
    _edit_config(path, **changes)
    with pytest.raises(ValueError, match=match) as info:
        load_encoder(path)
    assert str(path) in str(info.value)


def test_missing_and_truncated_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not a directory"):
        load_encoder(tmp_path / "none")
    (tmp_path / "plain").mkdir()
    with pytest.raises(FileNotFoundError, match=r"config\.json"):
        load_encoder(tmp_path / "plain")
    path = save_encoder(MLP(3, [], 2), tmp_path / "enc", safetensors=False)
    (path / TORCH_NAME).write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ValueError, match="not a readable state dict"):
        load_encoder(path)
    (path / TORCH_NAME).unlink()
    with pytest.raises(FileNotFoundError, match=TORCH_NAME):
        load_encoder(path)
