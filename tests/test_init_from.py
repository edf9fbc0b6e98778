"""``init_from`` / ``--init-from`` in every training recipe: a run starts from the weights of
a model file (or of the shipped model, ``default``) in float32 and train mode, with the
file's architecture; a file of another kind, or one made for other data, is a one-line
ConfigError; a GAN's discriminator starts from random weights; the exported files count
the steps behind the starting weights in ``total_steps``."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from safetensors.torch import load_file

from sonomorph.errors import ConfigError
from sonomorph.models import read_metadata, save_model

torch.set_num_threads(1)

GENRES = ["drone", "hiss", "ticks"]
#: the genres of the shipped genre model, in its label order
SHIPPED_GENRES = ["bossa", "chorale", "electronic", "folk", "jazz", "quartet", "renaissance",
                  "rock"]


def _noise(seconds: float, sr: int, seed: int) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal(int(seconds * sr))).astype(np.float32)


def _gtzan(root: Path, genres: list[str], clips: int = 2, seconds: float = 1.0) -> Path:
    """``<genre>/<genre>.0000N.wav``; with two clips, the first trains and the second
    validates (split files)."""
    splits: dict[str, list[str]] = {"train": [], "valid": []}
    for g, genre in enumerate(genres):
        (root / genre).mkdir(parents=True)
        for i in range(clips):
            name = f"{genre}.{i:05d}.wav"
            sf.write(root / genre / name, _noise(seconds, 22050, 10 * g + i), 22050)
            splits["train" if i == 0 else "valid"].append(f"{genre}/{name}")
    if clips > 1:
        (root / "splits").mkdir()
        for split, lines in splits.items():
            (root / "splits" / f"{split}.txt").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    """Tiny data folders, enough for each recipe's task to be built."""
    root = tmp_path_factory.mktemp("data")
    for sub in ("mixes/vocals", "mixes/music", "voices", "screams"):
        (root / sub).mkdir(parents=True)
    for spk in ("p1", "p2"):  # a VCTK layout: wav/<speaker>/<speaker>_NNN.wav
        (root / "speech" / "wav" / spk).mkdir(parents=True)
        for u in range(2):
            sf.write(root / "speech" / "wav" / spk / f"{spk}_{u + 1:03d}.wav",
                     _noise(0.6, 16000, u), 16000)
    return {"mixes": root / "mixes", "speech": root / "speech", "voices": root / "voices",
            "screams": root / "screams", "gtzan": _gtzan(root / "gtzan", GENRES),
            "gtzan8": _gtzan(root / "gtzan8", SHIPPED_GENRES, clips=1, seconds=0.2)}


# --------------------------------------------------------------------------- the recipes


def _task(recipe: str, data: dict[str, Path], init_from: str = "", **keys):
    """The recipe's task with a small configuration and ``init_from``."""
    if recipe == "separator":
        from sonomorph.train.recipes.separator import SeparatorTask, SeparatorTrainConfig

        cfg = SeparatorTrainConfig(data=str(data["mixes"]), validate_every=1,
                                   init_from=init_from, **keys)
        return SeparatorTask(cfg)
    if recipe == "speaker-encoder":
        from sonomorph.train.recipes.speaker_encoder import SpeakerEncoderConfig, SpeakerEncoderTask

        cfg = SpeakerEncoderConfig(data=str(data["speech"]), batch_size=2, val_fraction=0.0,
                                   channels=16, attention=4, embedding=8, init_from=init_from,
                                   **keys)
        return SpeakerEncoderTask(cfg)
    if recipe == "scream":
        from sonomorph.train.recipes.scream import (
            DiscriminatorArgs,
            GeneratorArgs,
            ScreamConfig,
            ScreamTask,
        )

        cfg = ScreamConfig(voices=str(data["voices"]), screams=str(data["screams"]),
                           generator=GeneratorArgs(dim=16, hidden=16, n_blocks=1, kernel_size=3),
                           discriminator=DiscriminatorArgs(n_scales=1, ndf=4, n_layers=1,
                                                           max_channels=8),
                           init_from=init_from, **keys)
        return ScreamTask(cfg)
    if recipe == "scream-judge":
        from sonomorph.train.recipes.scream_judge import ScreamJudgeConfig, ScreamJudgeTask

        return ScreamJudgeTask(ScreamJudgeConfig(channels=8, embedding=4, init_from=init_from,
                                                 **keys))
    if recipe == "accompany":
        from sonomorph.train.recipes.accompany import (
            AccompanyModelArgs,
            AccompanyTask,
            AccompanyTrainConfig,
        )

        cfg = AccompanyTrainConfig(data="unused", init_from=init_from,
                                   model=AccompanyModelArgs(ngf=4, depth=3, max_channels=8,
                                                            ndf=4, n_layers=1), **keys)
        return AccompanyTask(cfg)
    if recipe == "genre":
        from sonomorph.train.recipes.genre import GenreTask, GenreTrainConfig

        return GenreTask(GenreTrainConfig(data=str(keys.pop("gtzan", data["gtzan"])),
                                          validate_every=1, channels=[4, 4],
                                          init_from=init_from, **keys))
    raise AssertionError(recipe)


def _source_model(recipe: str) -> tuple[torch.nn.Module, dict]:
    """A tiny model of the recipe's kind, built directly (not by the recipe), with another
    architecture than the recipe's configuration, and the metadata saved with it."""
    torch.manual_seed(1)
    if recipe == "separator":
        from sonomorph.models.separator import MaskSeparator

        return MaskSeparator(n_fft=512, hop=128, hidden=8, layers=1), {}
    if recipe == "speaker-encoder":
        from sonomorph.models.speaker_encoder import SpeakerEncoder

        return SpeakerEncoder(channels=8, attention=4, embedding=6), {}
    if recipe == "scream":
        from sonomorph.models.melgan import ISTFTGenerator

        return ISTFTGenerator(dim=8, hidden=12, n_blocks=1, kernel_size=3), {}
    if recipe == "scream-judge":
        from sonomorph.models.scream_judge import ScreamJudge

        return ScreamJudge(channels=6, embedding=3), {}
    if recipe == "accompany":
        from sonomorph.models.pix2pix import UNetGenerator

        return UNetGenerator(ngf=2, depth=3, max_channels=4), {}
    if recipe == "genre":
        from sonomorph.models.classifier import GenreCNN

        return GenreCNN(n_classes=3, channels=[3, 3]), {"labels": GENRES, "sample_rate": 22050}
    raise AssertionError(recipe)


#: recipe -> the name of its network that init_from replaces, and its model kind
RECIPES = {"separator": ("separator", "separator"),
           "speaker-encoder": ("encoder", "speaker-encoder"),
           "scream": ("generator", "scream"),
           "scream-judge": ("judge", "scream-judge"),
           "accompany": ("generator", "accompany"),
           "genre": ("genre", "genre")}


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """One saved tiny model file per recipe, as an earlier run would leave it: its own
    step count and the total with the steps behind its own starting weights."""
    folder = tmp_path_factory.mktemp("models")
    out = {}
    for k, recipe in enumerate(RECIPES):
        model, meta = _source_model(recipe)
        out[recipe] = save_model(folder / f"{recipe}.safetensors", model,
                                 meta={**meta, "step": 5 + k, "total_steps": 100 + k})
    return out


def _assert_same_weights(model: torch.nn.Module, tensors: dict[str, torch.Tensor]) -> None:
    state = model.state_dict()
    assert state.keys() == tensors.keys()
    for key, value in tensors.items():
        assert torch.equal(state[key], value.to(state[key].dtype)), key


@pytest.mark.parametrize("recipe", list(RECIPES))
def test_init_from_a_file_starts_from_its_weights_and_architecture(recipe, data, files, caplog):
    name, kind = RECIPES[recipe]
    task = _task(recipe, data, init_from=str(files[recipe]))
    with caplog.at_level(logging.WARNING, logger="sonomorph.train.init_from"):
        models = task.build_models()
    model = models[name]
    _assert_same_weights(model, load_file(files[recipe]))
    assert model.training
    assert all(p.dtype == torch.float32 for p in model.parameters())
    # the file's architecture, not the configuration's, and the run is told so
    assert type(model) is type(_source_model(recipe)[0])
    assert "architecture comes from that file" in caplog.text
    assert task.prior_steps == 100 + list(RECIPES).index(recipe)


@pytest.mark.parametrize("recipe", list(RECIPES))
def test_init_from_a_file_of_another_kind_is_a_one_line_config_error(recipe, data, files):
    other = list(RECIPES)[(list(RECIPES).index(recipe) + 1) % len(RECIPES)]
    task = _task(recipe, data, init_from=str(files[other]))
    with pytest.raises(ConfigError) as err:
        task.build_models()
    text = str(err.value)
    assert "\n" not in text and str(files[other]) in text
    assert f"needs a {RECIPES[recipe][1]} model" in text


@pytest.mark.parametrize("recipe", list(RECIPES))
def test_init_from_default_is_the_shipped_model(recipe, data):
    from sonomorph import pretrained

    name, kind = RECIPES[recipe]
    extra = {"gtzan": data["gtzan8"]} if recipe == "genre" else {}
    task = _task(recipe, data, init_from="default", **extra)
    model = task.build_models()[name]
    shipped = pretrained.path_for(kind)
    _assert_same_weights(model, load_file(shipped))
    assert model.training and all(p.dtype == torch.float32 for p in model.parameters())
    meta = read_metadata(shipped)
    assert task.prior_steps == meta.get("total_steps", meta["step"]) > 0


def test_scream_real_by_name_and_gan_discriminators_start_fresh(data, files):
    from sonomorph import pretrained
    from sonomorph.models.registry import model_config

    task = _task("scream", data, init_from="scream-real")
    models = task.build_models()
    _assert_same_weights(models["generator"], load_file(pretrained.path_for("scream-real")))
    # the discriminator is the configuration's, with new weights: two seeds differ
    disc = models["discriminator"]
    assert model_config(disc)["args"]["ndf"] == 4
    other = _task("scream", data, init_from="scream-real", seed=1).build_models()
    assert not torch.equal(next(iter(disc.state_dict().values())),
                           next(iter(other["discriminator"].state_dict().values())))
    # the same for pix2pix
    acc = _task("accompany", data, init_from=str(files["accompany"])).build_models()
    assert model_config(acc["discriminator"])["args"] == {"in_channels": 6, "ndf": 4,
                                                         "n_layers": 1}


def test_a_file_made_for_other_data_is_refused(data, tmp_path):
    from sonomorph.models.classifier import GenreCNN
    from sonomorph.models.pix2pix import UNetGenerator
    from sonomorph.models.separator import MaskSeparator

    mono = save_model(tmp_path / "mono.safetensors",
                      MaskSeparator(sample_rate=22050, channels=1, n_fft=512, hop=128, hidden=8,
                                    layers=1))
    with pytest.raises(ConfigError, match="channels=2"):
        _task("separator", data, init_from=str(mono)).build_models()
    hop = save_model(tmp_path / "hop.safetensors", UNetGenerator(ngf=2, depth=3, max_channels=4,
                                                                 hop=128))
    with pytest.raises(ConfigError, match="hop=256"):
        _task("accompany", data, init_from=str(hop)).build_models()
    labels = save_model(tmp_path / "labels.safetensors", GenreCNN(n_classes=3, channels=[3, 3]),
                        meta={"labels": ["a", "b", "c"]})
    with pytest.raises(ConfigError, match="labels"):
        _task("genre", data, init_from=str(labels)).build_models()
    pickled = tmp_path / "weights.pt"
    torch.save(MaskSeparator(n_fft=512, hop=128, hidden=8, layers=1).state_dict(), pickled)
    with pytest.raises(ConfigError, match="safetensors"):
        _task("separator", data, init_from=str(pickled)).build_models()


# --------------------------------------------------------------------------- the commands


TRAIN_ARGS = {"separator": ["--data", "d"], "speaker-encoder": [], "scream": [],
              "scream-judge": [], "accompany": ["--data", "d"], "genre": ["--data", "d"]}


@pytest.mark.parametrize("command", list(TRAIN_ARGS))
def test_every_train_command_takes_init_from(command, capsys):
    from sonomorph.cli import build_parser

    args = build_parser().parse_args(["train", command, *TRAIN_ARGS[command],
                                      "--init-from", "default"])
    assert args.init_from == "default"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", command, "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "--init-from PATH" in help_text and "'default': the shipped model" in help_text


def test_train_genre_init_from_counts_the_prior_steps(data, files, tmp_path):
    from sonomorph.cli import main
    from sonomorph.eval.records import weights_record

    out = tmp_path / "run"
    code = main(["-q", "train", "genre", "--data", str(data["gtzan"]), "--out", str(out),
                 "--steps", "2", "--init-from", str(files["genre"]),
                 "--set", "batch_size=2", "--set", "train_frames=32", "--set", "num_workers=0",
                 "--set", "validate_every=2", "--set", "checkpoint_every=0",
                 "--set", "log_every=1", "--set", "lr=1e-9", "--set", "device=\"cpu\""])
    assert code == 0
    meta = read_metadata(out / "last.safetensors")
    prior = 100 + list(RECIPES).index("genre")
    assert (meta["step"], meta["prior_steps"], meta["total_steps"]) == (2, prior, prior + 2)
    assert meta["args"]["channels"] == [3, 3]  # the file's architecture went on training
    record = weights_record(out / "last.safetensors", meta)
    assert record["steps"] == prior + 2 and record["init_from"] == "genre.safetensors"
    # a run started from that file counts those steps too
    again = tmp_path / "again"
    assert main(["-q", "train", "genre", "--data", str(data["gtzan"]), "--out", str(again),
                 "--steps", "1", "--init-from", str(out / "last.safetensors"),
                 "--set", "batch_size=2", "--set", "train_frames=32", "--set", "num_workers=0",
                 "--set", "validate_every=1", "--set", "checkpoint_every=0",
                 "--set", "device=\"cpu\""]) == 0
    assert read_metadata(again / "last.safetensors")["total_steps"] == prior + 3


def test_train_command_refuses_another_kind_with_exit_2(data, files, tmp_path, capsys):
    from sonomorph.cli import main

    code = main(["-q", "train", "scream-judge", "--library", str(tmp_path), "--out",
                 str(tmp_path / "run"), "--init-from", str(files["genre"])])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "needs a scream-judge model" in err
