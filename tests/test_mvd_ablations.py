"""The ablation configs (docs/mvd.md, "Ablations at a matched budget") differ from the bundled
model's config only where the ablation says, so their runs are a matched comparison."""

from pathlib import Path

import numpy as np

import pytest

from see3d.mvd.train import TrainConfig

CONFIGS = Path(__file__).resolve().parents[1] / "src" / "see3d" / "mvd" / "configs"


def _diff(a: TrainConfig, b: TrainConfig) -> dict:
    da, db = a.to_dict(), b.to_dict()
    out = {k: (da[k], db[k]) for k in da if k != "model" and da[k] != db[k]}
    out.update({f"model.{k}": (da["model"][k], db["model"][k]) for k in da["model"] if da["model"][k] != db["model"][k]})
    return out


@pytest.mark.parametrize(
    "name, expected",
    [
        ("mvd_small_maskonly", {"model.mask_only": (False, True)}),
        # the recipe's steps 1-400 and 401-4100, not ablations
        ("mvd_small_phase0", {"t_max": (400, 1000), "crop": (64, 48)}),
        ("mvd_small_phase1", {"crop": (64, 48)}),
        (
            "mvd_small_eps",
            {
                "t_max": (400, 1000),
                "model.prediction_type": ("sample", "epsilon"),
                "model.prefill": ("telea", "none"),
                "model.guidance_scale": (0.0, 2.0),
                "model.strength": (0.15, 1.0),
                "model.samples": (3, 1),
                "model.compose": ("residual", "replace"),
            },
        ),
        ("mvd_small_fullnoise", {"t_max": (400, 1000), "model.strength": (0.15, 1.0), "model.samples": (3, 1)}),
        ("mvd_small_fullnoise_maskonly", {"t_max": (400, 1000), "model.strength": (0.15, 1.0), "model.samples": (3, 1), "model.mask_only": (False, True)}),
    ],
)
def test_ablation_config_changes_only_its_factor(name, expected):
    main = TrainConfig.from_file(CONFIGS / "mvd_small.toml")
    abl = TrainConfig.from_file(CONFIGS / f"{name}.toml")
    assert _diff(main, abl) == expected
    # same network, data, optimiser and budget
    assert abl.model.unet == main.model.unet and abl.steps == main.steps and abl.batch == main.batch


def test_cli_seed_and_steps_override_the_config(tmp_path):
    """`see3d train mvd --seed S --steps N --batch B`: the run trains N steps of B samples with seed S (other seeds differ)."""
    import json

    from see3d.cli import main
    from see3d.mvd.train import read_loss_log
    from test_mvd_train import _write_config, tiny_train_config

    cfg = _write_config(tmp_path / "cfg.json", tiny_train_config(steps=50, ckpt_every=50))
    losses = {}
    for seed in (0, 7):
        run = tmp_path / f"s{seed}"
        assert main(["train", "mvd", "--config", str(cfg), "--out", str(run), "--seed", str(seed), "--steps", "2", "--batch", "1", "-q"]) == 0
        saved = json.loads((run / "train_config.json").read_text())
        assert (saved["seed"], saved["steps"], saved["batch"]) == (seed, 2, 1)
        losses[seed] = read_loss_log(run / "loss.csv")
        assert len(losses[seed]) == 2 and list(run.glob("checkpoints/step_0000002"))
    assert not np.allclose(losses[0][:, 1], losses[7][:, 1])


def test_config_extends_merges_tables_and_refuses_loops(tmp_path):
    from see3d.errors import See3DError
    from see3d.io.config import read_config_file

    (tmp_path / "base.toml").write_text('steps = 5\nlr = 1e-3\n[model]\nstrength = 0.2\nsamples = 3\n[model.unet]\nmodel_channels = 32\n')
    (tmp_path / "child.toml").write_text('extends = "base.toml"\nsteps = 9\n[model]\nsamples = 1\n')
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "grand.json").write_text('{"extends": "../child.toml", "model": {"unet": {"model_channels": 16}}}')
    d = read_config_file(tmp_path / "sub" / "grand.json")
    assert d == {"steps": 9, "lr": 1e-3, "model": {"strength": 0.2, "samples": 1, "unet": {"model_channels": 16}}}
    (tmp_path / "a.toml").write_text('extends = "b.toml"\n')
    (tmp_path / "b.toml").write_text('extends = "a.toml"\n')
    with pytest.raises(See3DError, match="loops back"):
        read_config_file(tmp_path / "a.toml")
    (tmp_path / "c.toml").write_text('extends = "missing.toml"\n')
    with pytest.raises(See3DError, match="not found"):
        read_config_file(tmp_path / "c.toml")
