"""The training package: data loading errors, tokenizer, model invariants, training, resume, BLEU."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from conftest import ROOT, train_tiny

from training.checkpoint import average_weights, load_checkpoint, load_weights
from training.config import ModelConfig
from training.constants import SCORE_FUNCTIONS
from training.corpus import load_splits
from training.data import train_tokenizer
from training.errors import CheckpointError, DataError
from training.model import Seq2Seq


def child_env(**extra) -> dict:
    """The caller's environment for a subprocess, without .pyc files landing in the source tree."""
    return {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", **extra}


# ---- data -------------------------------------------------------------------------------------------
def test_offline_hub_name_says_to_use_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    with pytest.raises(DataError) as caught:
        load_splits("en", "de", dataset="bentrevett/multi30k")
    message = str(caught.value)
    assert "bentrevett/multi30k" in message and "--data-dir" in message
    assert "\n" not in message


def test_offline_hub_cli_prints_one_line_without_traceback(tmp_path):
    env = child_env(HF_HOME=str(tmp_path), HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    done = subprocess.run(
        [sys.executable, "-m", "training", "--src", "en", "--tgt", "de", "--out", str(tmp_path / "r")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("error: could not load the dataset 'bentrevett/multi30k'")


def test_missing_column_lists_the_columns(tiny_corpus):
    with pytest.raises(DataError, match=r"no column 'fr'; columns there: en, de"):
        load_splits("en", "fr", data_dir=tiny_corpus)


def test_translation_layout_and_empty_pairs_are_dropped_and_counted(tmp_path):
    rows = [
        {"translation": {"en": "A dog.", "de": "Ein Hund."}},
        {"translation": {"en": "  ", "de": "Leer."}},
        {"translation": {"en": "Two cats.", "de": ""}},
        {"translation": {"en": "A bird.", "de": "Ein Vogel."}},
    ]
    for split in ("train", "validation"):
        (tmp_path / f"{split}.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    splits, report = load_splits("en", "de", data_dir=tmp_path)
    assert [(p.src, p.tgt) for p in splits["train"]] == [("A dog.", "Ein Hund."), ("A bird.", "Ein Vogel.")]
    assert report["dropped_empty"] == {"train": 2, "validation": 2}
    with pytest.raises(DataError, match="no language 'fr' under 'translation'; languages there: de, en"):
        load_splits("en", "fr", data_dir=tmp_path)


def test_missing_data_dir_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="is not a folder"):
        load_splits("en", "de", data_dir=tmp_path / "nope")


@pytest.mark.parametrize("kind", ["bpe", "unigram"])
def test_tokenizer_round_trip_is_lossless(kind):
    texts = [
        "Ein kleiner Hund läuft über die Straße.",
        "Une fille mange une crêpe à Noël !",
        "Two men, (one old) climb 3 rocks; why?",
    ] * 20
    tokenizer = train_tokenizer(texts, 400, kind)
    for text in ["Ein Mädchen isst Äpfel.", "  Spaces   and\ttabs ", "Ça coûte 5 € — vraiment ?", "ﬁne Œuvre", "x"]:
        ids = tokenizer.encode(text, add_special_tokens=False).ids
        assert tokenizer.token_to_id("<unk>") not in ids, text
        assert tokenizer.decode(ids) == tokenizer.normalizer.normalize_str(text)
    assert [tokenizer.token_to_id(t) for t in ("<pad>", "<unk>", "<s>", "</s>")] == [0, 1, 2, 3]


# ---- model ------------------------------------------------------------------------------------------
def small_model(attention: str, seed: int = 0) -> Seq2Seq:
    torch.manual_seed(seed)
    model = Seq2Seq(ModelConfig(vocab_size=50, embed_dim=16, hidden_dim=12, attention=attention, attention_dim=10))
    return model.eval()


@pytest.mark.parametrize("attention", SCORE_FUNCTIONS)
def test_padding_never_changes_a_result(attention):
    model = small_model(attention)
    sentence = torch.tensor([[7, 8, 9, 10, 3]])
    batch = torch.tensor([[7, 8, 9, 10, 3, 0, 0, 0], [11, 12, 13, 14, 15, 16, 17, 3], [20, 3, 0, 0, 0, 0, 0, 0]])
    with torch.no_grad():
        alone = model.encode(sentence, sentence != 0)
        padded = model.encode(batch, batch != 0)
        for a, p in zip(alone, padded):
            assert torch.allclose(a[0], p[0, : a.size(1)] if a.dim() == 3 else p[0], atol=1e-5)
        prev = torch.tensor([2])
        step_alone = model.decoder.step(prev, alone[2], alone[1], alone[0], sentence != 0)
        step_padded = model.decoder.step(torch.tensor([2, 2, 2]), padded[2], padded[1], padded[0], batch != 0)
    assert torch.allclose(step_alone[0][0], step_padded[0][0], atol=1e-5)  # log-probs
    assert torch.allclose(step_alone[1][0], step_padded[1][0], atol=1e-5)  # hidden
    assert torch.allclose(step_alone[2][0], step_padded[2][0, :5], atol=1e-5)  # attention on real tokens
    assert float(step_padded[2][0, 5:].sum()) < 1e-6  # and none on padding


@pytest.mark.parametrize("attention", SCORE_FUNCTIONS)
def test_bmm_shapes_in_one_decoder_step(attention, monkeypatch):
    model = small_model(attention)
    calls = []
    real_bmm = torch.bmm

    def recording_bmm(a, b):
        out = real_bmm(a, b)
        calls.append((tuple(a.shape), tuple(b.shape), tuple(out.shape)))
        return out

    src = torch.tensor([[5, 6, 7, 3], [8, 9, 3, 0]])
    with torch.no_grad():
        enc_out, keys, hidden = model.encode(src, src != 0)
        monkeypatch.setattr(torch, "bmm", recording_bmm)
        model.decoder.step(torch.tensor([2, 2]), hidden, keys, enc_out, src != 0)
    B, S, two_h = 2, 4, 24
    context_call = ((B, 1, S), (B, S, two_h), (B, 1, two_h))  # bmm(weights.unsqueeze(1), enc_out)
    if attention == "additive":
        assert calls == [context_call]  # Bahdanau scores come from tanh and v, not from bmm
    else:
        score_call = ((B, 1, two_h), (B, two_h, S), (B, 1, S))  # bmm(query, keys.transpose(1, 2))
        assert calls == [score_call, context_call]


@pytest.mark.parametrize("attention", SCORE_FUNCTIONS)
def test_teacher_forcing_equals_step_by_step(attention):
    """The exported step computes exactly what training optimises, for every score function."""
    model = small_model(attention)
    src, tgt_in = torch.tensor([[5, 6, 7, 3]]), torch.tensor([[2, 9, 10, 11]])
    with torch.no_grad():
        logits = model(src, src != 0, tgt_in)
        enc_out, keys, hidden = model.encode(src, src != 0)
        for t in range(tgt_in.size(1)):
            log_probs, hidden, _ = model.decoder.step(tgt_in[:, t], hidden, keys, enc_out, src != 0)
            assert torch.allclose(log_probs, torch.log_softmax(logits[:, t], -1), atol=1e-5)


# ---- training ---------------------------------------------------------------------------------------
def test_training_lowers_loss_and_keeps_best_and_last(tiny_run):
    state = load_checkpoint(tiny_run / "last.pt")
    history = state["progress"]["history"]
    assert len(history) == 6
    assert history[-1]["val_loss"] < history[0]["val_loss"] * 0.5
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    best = load_checkpoint(tiny_run / "best.pt")
    scores = [r["val_bleu"] for r in history] + [r["val_bleu_avg"] for r in history if "val_bleu_avg" in r]
    assert round(best["progress"]["best_bleu"], 2) == max(scores)
    assert best["progress"]["best"]["val_bleu"] == max(scores)
    assert "optimizer" in state and state["src_tokenizer"]


def test_checkpoint_averaging_keeps_the_last_epochs_and_saves_their_mean(tiny_run):
    history = load_checkpoint(tiny_run / "last.pt")["progress"]["history"]
    assert "val_bleu_avg" not in history[0]  # one snapshot is nothing to average
    assert all("val_bleu_avg" in r for r in history[1:])
    kept = sorted(p.name for p in (tiny_run / "epochs").iterdir())
    assert kept == [f"epoch-{e:03d}.pt" for e in range(2, 7)]  # default --average 5 of 6 epochs
    snapshots = [load_weights(tiny_run / "epochs" / name) for name in kept]
    averaged = average_weights(snapshots)
    name = "decoder.gru.weight_hh_l0"
    assert torch.allclose(averaged[name], sum(s[name] for s in snapshots) / len(snapshots))
    assert not torch.equal(averaged[name], snapshots[-1][name])
    best = load_checkpoint(tiny_run / "best.pt")  # holds exactly the weights its record names
    chosen = best["progress"]["best"]["averaged_epochs"]
    expected = average_weights([load_weights(tiny_run / "epochs" / f"epoch-{e:03d}.pt") for e in chosen])
    assert torch.equal(best["model"][name], expected[name])


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(tiny_corpus, tmp_path):
    straight = train_tiny(tiny_corpus, tmp_path / "straight", "--epochs", "2", "--seed", "3")
    stopped = train_tiny(tiny_corpus, tmp_path / "stopped", "--epochs", "2", "--seed", "3", "--max-steps", "25")
    mid = load_checkpoint(stopped / "last.pt")["progress"]
    assert (mid["epoch"], mid["step_in_epoch"]) == (1, 6)  # 19 batches per epoch: stopped inside epoch 2
    train_tiny(tiny_corpus, stopped, "--epochs", "2", "--resume")
    a, b = load_checkpoint(straight / "last.pt"), load_checkpoint(stopped / "last.pt")
    assert a["model"].keys() == b["model"].keys()
    for name in a["model"]:
        assert torch.equal(a["model"][name], b["model"][name]), name
    assert [r["val_bleu"] for r in a["progress"]["history"]] == [r["val_bleu"] for r in b["progress"]["history"]]
    # The resumed epoch's train loss covers all 19 of its batches, not only the 13 after the restart.
    assert [r["train_loss"] for r in a["progress"]["history"]] == [r["train_loss"] for r in b["progress"]["history"]]
    assert mid["epoch_target_tokens"] > 0


def test_a_run_stopped_inside_its_first_epoch_says_there_is_no_best_yet(tiny_corpus, tmp_path, capsys):
    run = train_tiny(tiny_corpus, tmp_path / "early", "--epochs", "2", "--max-steps", "3")
    out = capsys.readouterr()
    assert "no epoch finished" in out.out + out.err and "continue with --resume" in out.out + out.err
    assert (run / "last.pt").exists() and not (run / "best.pt").exists()


def test_init_from_fine_tunes_a_checkpoint_with_its_tokenizer_and_config(tiny_run, tiny_corpus, tmp_path, capsys):
    from training.__main__ import main

    start = load_checkpoint(tiny_run / "best.pt")
    out = tmp_path / "tuned"
    assert (
        main(
            [
                "--data-dir",
                str(tiny_corpus),
                "--src",
                "en",
                "--tgt",
                "de",
                "--out",
                str(out),
                "--init-from",
                str(tiny_run / "best.pt"),
                "--epochs",
                "1",
                "--max-steps",
                "1",
                "--lr",
                "0",
                "--threads",
                "1",
                "--quiet",
                "--vocab-size",
                "999",
                "--hidden-dim",
                "8",
            ]
        )
        == 0
    )
    assert "initialised from" in capsys.readouterr().out
    tuned = load_checkpoint(out / "last.pt")
    assert tuned["config"] == start["config"] and tuned["src_tokenizer"] == start["src_tokenizer"]
    for name, value in start["model"].items():  # lr 0: the step changed nothing, so these are the start weights
        assert torch.equal(tuned["model"][name], value.float()), name
    assert tuned["progress"]["global_step"] == 1 and tuned["progress"]["epoch"] == 0  # a new run, not a resume
    earlier = tuned["progress"]["started_from"]  # the starting checkpoint's own record travels with the run
    assert earlier["checkpoint"] == str(tiny_run / "best.pt") and earlier["epochs"] == start["progress"]["epoch"]
    assert earlier["history"] == start["progress"]["history"] and earlier["device"] == start["args"]["device"]
    assert (
        main(
            [
                "--data-dir",
                str(tiny_corpus),
                "--src",
                "de",
                "--tgt",
                "en",
                "--out",
                str(tmp_path / "wrong"),
                "--init-from",
                str(tiny_run / "best.pt"),
                "--quiet",
            ]
        )
        == 2
    )
    assert "translates en->de, not de->en" in capsys.readouterr().err


def test_same_seed_same_model(tiny_corpus, tmp_path):
    one = load_checkpoint(train_tiny(tiny_corpus, tmp_path / "a", "--epochs", "1") / "last.pt")
    two = load_checkpoint(train_tiny(tiny_corpus, tmp_path / "b", "--epochs", "1") / "last.pt")
    assert all(torch.equal(one["model"][k], two["model"][k]) for k in one["model"])


def test_ctrl_c_saves_a_checkpoint_that_resumes(tiny_corpus, tmp_path):
    import signal
    import time

    from conftest import TINY_MODEL_FLAGS

    out = tmp_path / "interrupted"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "training",
            "--data-dir",
            str(tiny_corpus),
            "--out",
            str(out),
            *TINY_MODEL_FLAGS,
            "--epochs",
            "500",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(PYTHONUNBUFFERED="1"),
    )
    deadline = time.monotonic() + 120
    while not (out / "last.pt").exists() and time.monotonic() < deadline:  # wait for the first epoch
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "continue with --resume" in stdout and "Traceback" not in stderr
    state = load_checkpoint(out / "last.pt")
    assert state["saved_because"] == "interrupted" and state["progress"]["global_step"] > 0
    epochs = str(state["progress"]["epoch"] + 1)
    resumed = load_checkpoint(train_tiny(tiny_corpus, out, "--resume", "--epochs", epochs) / "last.pt")
    straight = load_checkpoint(train_tiny(tiny_corpus, tmp_path / "straight", "--epochs", epochs) / "last.pt")
    assert resumed["progress"]["epoch"] == int(epochs)
    for name in straight["model"]:  # stopping between steps makes the interrupted run exact
        assert torch.equal(resumed["model"][name], straight["model"][name]), name


# ---- command line and checkpoints -------------------------------------------------------------------
def test_help_does_not_import_torch():
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "training", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=child_env(),
    )
    assert done.returncode == 0 and "--batch-size" in done.stdout
    imported = {line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert {"training.constants", "training.config", "rules"} <= imported  # the import log was read
    assert not {name for name in imported if name == "torch" or name.startswith("torch.")}


def test_model_flags_default_to_the_model_config():
    from dataclasses import fields

    from training.__main__ import build_parser

    args = build_parser().parse_args(["--out", "r"])
    flags = [f for f in fields(ModelConfig) if hasattr(args, f.name)]
    assert {f.name for f in flags} == {"vocab_size", "embed_dim", "hidden_dim", "attention", "attention_dim", "dropout"}
    assert all(getattr(args, f.name) == f.default for f in flags)
    assert args.vocab_size == 8000  # what every shipped bundle uses


def test_training_never_imports_inference():
    code = (
        "import sys; sys.modules['inference'] = None\n"  # any inference import now raises ImportError
        "import training.train, training.streaming, training.__main__\n"
        "assert not [m for m in sys.modules if m.startswith('inference.')]\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120, env=child_env()
    )
    assert done.returncode == 0, done.stderr


def test_lr_schedule_halves_like_the_documented_patience():
    """--lr-patience P: the P-th epoch in a row without a better BLEU halves the LR, then the count restarts."""
    import random

    from training.train import make_scheduler

    rng = random.Random(0)
    for patience in (1, 2, 3):
        optimizer = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        scheduler = make_scheduler(optimizer, patience)
        lr, best, bad = 1.0, float("-inf"), 0
        for step in range(60):
            bleu = rng.uniform(0, 40) if step == 0 else rng.choice([rng.uniform(0, 40), best])  # a tie is not better
            if bleu > best:
                best, bad = bleu, 0
            else:
                bad += 1
                if bad >= patience:
                    lr, bad = lr / 2, 0
            scheduler.step(bleu)
            assert optimizer.param_groups[0]["lr"] == lr


def test_a_checkpoint_that_would_run_code_is_refused(tmp_path):
    marker = tmp_path / "ran"
    hostile = tmp_path / "hostile.pt"
    torch.save(
        {
            "config": {},
            "model": {},
            "src_tokenizer": "",
            "tgt_tokenizer": "",
            "payload": RunsCodeWhenUnpickled(str(marker)),
        },
        hostile,
    )
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(hostile)
    message = str(caught.value)
    assert "refusing to load" in message and "\n" not in message
    assert not marker.exists()
    done = subprocess.run(
        [sys.executable, "-m", "export", str(hostile), "--out", str(tmp_path / "bundle")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=child_env(),
    )
    assert done.returncode != 0 and "refusing to load" in done.stderr and "Traceback" not in done.stderr
    assert not marker.exists()


def test_a_checkpoint_with_two_different_tokenizers_is_refused(tmp_path):
    path = tmp_path / "two.pt"
    torch.save({"config": {}, "model": {}, "src_tokenizer": "{}", "tgt_tokenizer": "[]"}, path)
    with pytest.raises(CheckpointError, match="two different tokenizers"):
        load_checkpoint(path)


class RunsCodeWhenUnpickled:
    """Unpickling this calls exec(), which writes a marker file: what a hostile checkpoint would do."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('ran')",))


# ---- several datasets -------------------------------------------------------------------------------
def exclaiming_corpus(folder):
    """A second tiny dataset, told apart from the first by its sentences ending in "!"."""
    from conftest import write_corpus

    write_corpus(folder, seed=7)
    for path in folder.glob("*.jsonl"):
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        rows = [{k: v[:-1] + " !" for k, v in row.items()} for row in rows]
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return folder


def test_mixed_datasets_give_batches_in_the_stated_proportion(tiny_corpus, tmp_path):
    from training.__main__ import parse_args
    from training.distributed import Cluster
    from training.sources import load_training_data

    second = exclaiming_corpus(tmp_path / "second")
    args = parse_args(
        [
            "--data-dir",
            str(tiny_corpus),
            "--data-dir",
            str(second),
            "--mix-weights",
            "3,1",
            "--out",
            str(tmp_path / "r"),
            "--vocab-size",
            "400",
            "--batch-size",
            "32",
        ]
    )
    assert args.mix_weights == [0.75, 0.25] and args.data_dir == str(tiny_corpus)
    data = load_training_data(args, Cluster(), eos_id=3)
    assert list(data.validations) == [tiny_corpus.name, "second"]
    batches, count, _ = data.epoch_batches(0)
    sources = [data.tokenizer.decode(examples[i][0][:-1]) for examples, batch in batches for i in batch]
    share = sum(text.endswith("!") for text in sources) / len(sources)
    assert len(sources) > 1200 and abs(share - 0.25) < 0.03  # drawn 3:1 until both sets were used up
    mixed = [
        batch
        for examples, batch in batches
        if len({data.tokenizer.decode(examples[i][0][:-1]).endswith("!") for i in batch}) == 2
    ]
    assert mixed  # the datasets are interleaved, not one after the other


def test_each_dataset_is_validated_and_best_is_chosen_on_the_mean(tiny_corpus, tmp_path, capsys):
    second = exclaiming_corpus(tmp_path / "second")
    out = train_tiny(tiny_corpus, tmp_path / "mixed", "--data-dir", str(second), "--epochs", "2", "--average", "1")
    log = capsys.readouterr().out
    for epoch in (1, 2):
        assert f"epoch {epoch} | {tiny_corpus.name}: val loss" in log and f"epoch {epoch} | second: val loss" in log
    assert "val BLEU (mean)" in log
    history = load_checkpoint(out / "last.pt")["progress"]["history"]
    for record in history:
        by_dataset = record["val_bleu_by_dataset"]
        assert set(by_dataset) == {tiny_corpus.name, "second"}
        assert abs(record["val_bleu"] - sum(by_dataset.values()) / 2) <= 0.011
    best = load_checkpoint(out / "best.pt")["progress"]["best"]
    assert best["val_bleu"] == max(r["val_bleu"] for r in history)


def test_a_dataset_without_the_columns_is_named(tiny_corpus, tmp_path, capsys):
    from training.__main__ import main

    french = tmp_path / "french"
    french.mkdir()
    for split in ("train", "validation"):
        (french / f"{split}.jsonl").write_text(json.dumps({"en": "A dog.", "fr": "Un chien."}) + "\n", encoding="utf-8")
    code = main(["--data-dir", str(tiny_corpus), "--data-dir", str(french), "--out", str(tmp_path / "r"), "--quiet"])
    stderr = capsys.readouterr().err  # above the error: the datasets library's own progress lines
    error = stderr.strip().splitlines()[-1]
    assert code == 2 and "Traceback" not in stderr and error.startswith("error: ")
    assert str(french) in error and "no column 'de'; columns there: en, fr" in error


def test_fp16_autocast_forward_masks_padding_without_overflow():
    """GPUs without bf16 train under fp16 autocast: the bmm scores are fp16 there, which cannot hold the
    padding score (-1e9), so masking and softmax run in fp32. CPU autocast takes the same fp16 path."""
    torch.manual_seed(0)
    model = Seq2Seq(ModelConfig(vocab_size=50, embed_dim=8, hidden_dim=8, dropout=0.0))
    src = torch.randint(4, 50, (2, 5))
    mask = torch.ones(2, 5, dtype=torch.bool)
    mask[1, 3:] = False
    with torch.autocast("cpu", dtype=torch.float16):
        logits = model(src, mask, torch.randint(4, 50, (2, 4)))
        enc_out, keys, hidden = model.encode(src, mask)
        _, _, weights = model.decoder.step(torch.tensor([2, 2]), hidden, keys, enc_out, mask)
    assert torch.isfinite(logits.float()).all()
    assert float(weights[1, 3:].max()) < 1e-9 and torch.allclose(weights.float().sum(-1), torch.ones(2))
