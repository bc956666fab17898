"""The training CLI: schedule, errors, checkpoints, bit-exact resume after SIGKILL, torchrun vs one process."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import spikformer_lite as sl
from spikformer_lite import train
from spikformer_lite.checkpoint import CheckpointError, check_same_model, load_checkpoint, save_checkpoint, sha256sum

ROOT = os.environ.get("SPIKFORMER_DATA")
needs_cifar = pytest.mark.skipif(not ROOT or not (Path(ROOT) / "cifar10/cifar10_jpeg.npz").is_file(),
                                 reason="SPIKFORMER_DATA does not hold cifar10/cifar10_jpeg.npz")
# A model small enough that a CPU trains a few epochs of it in seconds.
BASE = ["--preset", "cifar10-4-384", "--recipe", "quick", "--T", "1", "--train-subset", "512", "--test-subset", "64",
        "--batch-size", "32", "--epochs", "3", "--no-progress", "--threads", "1"]
TINY = BASE + ["--set", "depth=1", "embed_dim=32", "num_heads=2"]


def cli(*args, env=None, check=True):
    proc = subprocess.run([sys.executable, "-m", "spikformer_lite.train", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def weights(path):
    return load_checkpoint(path)["model"]


# ---------------------------------------------------------------- schedule and recipes

def test_schedule_is_timms_cosine_with_warmup_and_cooldown():
    r = train.get_recipe("cifar10", "paper")  # lr 5e-4, warmup 20 epochs from 1e-5, 300 cosine epochs, min 1e-5
    assert train.lr_at(0, r) == pytest.approx(1e-5)
    assert train.lr_at(10, r) == pytest.approx(1e-5 + 10 * (5e-4 - 1e-5) / 20)
    # after warmup the cosine runs over all 300 epochs (timm: warmup_prefix=False)
    assert train.lr_at(20, r) == pytest.approx(1e-5 + 0.5 * (5e-4 - 1e-5) * (1 + torch.cos(torch.tensor(torch.pi * 20 / 300)).item()))
    assert train.lr_at(150, r) == pytest.approx(1e-5 + 0.5 * (5e-4 - 1e-5))
    assert train.lr_at(300, r) == train.lr_at(309, r) == pytest.approx(1e-5)  # the 10 cooldown epochs
    assert r.epochs + r.cooldown_epochs == 310


def test_paper_recipes_are_the_official_settings():
    c = train.get_recipe("cifar10", "paper")
    assert (c.epochs, c.batch_size, c.lr, c.weight_decay, c.warmup_epochs, c.cooldown_epochs) == (300, 128, 5e-4, 0.06, 20, 10)
    assert (c.mixup_alpha, c.mixup_prob, c.mixup_off_epoch, c.smoothing, c.augment) == (0.5, 1.0, 200, 0.1, "official")
    d = train.get_recipe("cifar10dvs", "paper")
    assert (d.epochs, d.batch_size, d.lr, d.mixup_prob, d.mixup_off_epoch) == (96, 16, 1e-3, 0.5, 75)
    assert d.epochs + d.cooldown_epochs == 106  # sec. 4.2
    assert d.eval_batch_size == 16  # its test loader's batch is the training batch
    g = train.get_recipe("dvsgesture", "paper")
    assert g.epochs + g.cooldown_epochs == 200 and g.augment == "none" and g.mixup_alpha == 0  # sec. 4.2
    assert sl.get_config("cifar10-4-384").T == 4 and sl.get_config("cifar10dvs-2-256").T == 16


def test_paper_recipes_exempt_biases_and_norms_from_weight_decay_as_timm_does():
    """Both official scripts build AdamW with timm's create_optimizer(_v2), whose default filter_bias_and_bn=True
    gives biases and 1-D parameters (BatchNorm) no weight decay; the quick recipes decay every parameter."""
    model = sl.Spikformer(sl.get_config("cifar10-4-384", depth=1, embed_dim=32, num_heads=2, T=1))
    for data in ("cifar10", "cifar10dvs", "dvsgesture"):
        recipe = train.get_recipe(data, "paper")
        groups = train.make_optimizer(model, recipe).param_groups
        assert [g["weight_decay"] for g in groups] == [0.0, recipe.weight_decay]
    names = {id(p): n for n, p in model.named_parameters()}
    no_decay = {names[id(p)] for p in groups[0]["params"]}
    decay = {names[id(p)] for p in groups[1]["params"]}
    assert no_decay | decay == set(names.values()) and not no_decay & decay
    bn = {f"{m}.{w}" for m, mod in model.named_modules() if isinstance(mod, torch.nn.BatchNorm1d | torch.nn.BatchNorm2d)
          for w in ("weight", "bias")}
    assert bn and bn <= no_decay and all(n.endswith(".bias") or n in bn for n in no_decay)
    assert all(model.get_parameter(n).ndim > 1 for n in decay)
    # what that means in one step without gradient: only the decayed weights shrink, by lr * wd
    recipe = train.get_recipe("cifar10", "paper")
    opt = train.make_optimizer(model, recipe)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    opt.step()
    for n, p in model.named_parameters():
        factor = 1 - recipe.lr * (recipe.weight_decay if n in decay else 0.0)
        assert torch.allclose(p.detach(), before[n] * factor, rtol=0, atol=1e-7), n
    quick = train.make_optimizer(model, train.get_recipe("cifar10", "quick")).param_groups
    assert len(quick) == 1 and quick[0]["weight_decay"] == 0.05 and len(quick[0]["params"]) == len(names)


def test_epoch_order_is_seeded_and_split_over_processes():
    a = train.epoch_order(100, epoch=3, seed=0, batch_size=8)
    assert len(a) == 12 and all(len(b) == 8 for b in a)  # the incomplete last batch is dropped
    assert all(torch.equal(x, y) for x, y in zip(a, train.epoch_order(100, 3, 0, 8)))
    assert not torch.equal(a[0], train.epoch_order(100, 4, 0, 8)[0])
    r0, r1 = train.epoch_order(100, 3, 0, 8, 0, 2), train.epoch_order(100, 3, 0, 8, 1, 2)
    assert all(torch.equal(torch.cat([x, y]), z) for x, y, z in zip(r0, r1, a))


# ---------------------------------------------------------------- clear errors

def test_cli_errors_say_what_is_wrong(tmp_path):
    def fails_with(message, *args):
        p = cli(*args, check=False)
        assert p.returncode != 0 and message in p.stderr, (args, p.stderr)
        return p

    p = fails_with("unknown preset 'cifar10-9-999'", "--preset", "cifar10-9-999", "--out", str(tmp_path / "a"))
    assert "cifar10-4-384" in p.stderr  # the choices are listed
    c10 = ["--preset", "cifar10-4-384"]
    fails_with("data_scripts/download_cifar.py", *c10, "--out", str(tmp_path / "b"), "--data-root", str(tmp_path / "empty"))
    fails_with("--sync-bn needs CUDA", *c10, "--out", str(tmp_path / "c"), "--sync-bn")
    fails_with("choose a matching --preset or --data", *c10, "--out", str(tmp_path / "d"), "--data", "nmnist")
    fails_with("warmup (5 epochs) is longer than the schedule (2)", *c10, "--out", str(tmp_path / "e"), "--epochs", "2",
               "--warmup-epochs", "5")
    fails_with("no checkpoint at", *c10, "--out", str(tmp_path / "f"), "--resume")
    fails_with("FIELD=VALUE", *c10, "--out", str(tmp_path / "g"), "--set", "depth")
    if not torch.cuda.is_available():
        fails_with("CUDA is not available", *c10, "--out", str(tmp_path / "h"), "--device", "cuda")


def test_model_rejects_non_finite_and_mismatched_inputs():
    model = sl.create_model("cifar10-4-384", depth=1, embed_dim=32, num_heads=2, T=1)
    x = model.encode(torch.rand(2, 3, 32, 32))
    model(x)
    with pytest.raises(ValueError, match="non-finite"):
        model(x.clone().fill_(float("nan")))
    with pytest.raises(ValueError, match=r"float64 but the model's parameters are torch.float32"):
        model(x.double())


def test_a_nan_loss_stops_training_and_names_the_step():
    model = sl.create_model("cifar10-4-384", depth=1, embed_dim=32, num_heads=2, T=1)
    with torch.no_grad():
        model.head.bias.fill_(float("nan"))
    split = train.Split(torch.randint(0, 255, (64, 32, 32, 3), dtype=torch.uint8), torch.randint(0, 10, (64,)),
                        "cifar", "random test images", 10)
    recipe = train.get_recipe("cifar10", "quick", batch_size=32, augment="none")
    opt = torch.optim.AdamW(model.parameters())
    with pytest.raises(train.TrainingError, match="non-finite loss .* at epoch 0, step 0"):
        train.train_one_epoch(model, split, opt, recipe, 0, model.cfg, progress=False)


def _tiny_run(sync_every, nan_at=None, on_step=None):
    torch.manual_seed(0)
    model = sl.create_model("cifar10-4-384", depth=1, embed_dim=32, num_heads=2, T=1, backend="torch")
    split = train.Split(torch.randint(0, 255, (96, 32, 32, 3), dtype=torch.uint8), torch.randint(0, 10, (96,)),
                        "cifar", "random test images", 10)
    recipe = train.get_recipe("cifar10", "quick", batch_size=16, augment="flip")
    opt = torch.optim.AdamW(model.parameters())
    if nan_at is not None:  # the head's bias turns NaN in the step ``nan_at``'s forward pass
        calls = [0]

        def poison(module, args):
            if calls[0] == nan_at:
                with torch.no_grad():
                    module.bias.fill_(float("nan"))
            calls[0] += 1
        model.head.register_forward_pre_hook(poison)
    result = train.train_one_epoch(model, split, opt, recipe, 0, model.cfg, progress=False, on_step=on_step,
                                   sync_every=sync_every)
    return model, result


def test_reading_results_in_blocks_changes_nothing_but_when_they_are_read():
    """On a GPU the loop reads loss and accuracy back every SYNC_EVERY steps, not every step: the same
    weights, loss and accuracy, bit for bit, and checkpoints (on_step) come only after a read."""
    seen_1, seen_4 = [], []
    m1, r1 = _tiny_run(1, on_step=lambda st: seen_1.append(st.step))
    m4, r4 = _tiny_run(4, on_step=lambda st: seen_4.append(st.step))
    assert all(torch.equal(a, b) for a, b in zip(m1.state_dict().values(), m4.state_dict().values()))
    assert (r1["loss"], r1["acc"], r1["steps"]) == (r4["loss"], r4["acc"], r4["steps"]) and r1["steps"] == 6
    assert seen_1 == [1, 2, 3, 4, 5] and seen_4 == [4]  # the last step's state is the epoch's end


def test_a_nan_loss_read_in_a_block_names_its_own_step_and_no_checkpoint_follows_it():
    seen = []
    with pytest.raises(train.TrainingError, match="non-finite loss .* at epoch 0, step 2:"):
        _tiny_run(4, nan_at=2, on_step=lambda st: seen.append(st.step))
    assert seen == []  # steps 0-3 form the first block: nothing was handed to on_step
    seen = []
    with pytest.raises(train.TrainingError, match="step 5:"):
        _tiny_run(4, nan_at=5, on_step=lambda st: seen.append(st.step))
    assert seen == [4]  # the checkpoint after step 3 (before the NaN) only


class _FakeEvent:
    def __init__(self, landed):
        self.landed, self.waited = landed, False

    def query(self):
        return self.landed

    def synchronize(self):
        self.waited = self.landed = True


def test_gpu_input_check_is_deferred_until_its_copy_has_landed():
    """What ``Spikformer`` does with a CUDA input's NaN count, with stand-ins for the CUDA event: a
    forward pass reads only checks that have landed (no waiting); ``check_deferred_input`` waits."""
    model = sl.create_model("cifar10-4-384", depth=1, embed_dim=32, num_heads=2, T=1)
    pending = model._pending_finite_checks
    ok, bad = _FakeEvent(True), _FakeEvent(False)
    pending.extend([(ok, torch.tensor(0), 10), (bad, torch.tensor(3), 10)])
    model.check_deferred_input(wait=False)  # the clean one is read; the bad one has not landed yet
    assert len(pending) == 1 and not bad.waited
    with pytest.raises(ValueError, match=r"3 non-finite value\(s\) .* of 10.*asynchronously.*1 call\(s\) back"):
        model.check_deferred_input()
    assert bad.waited and not pending
    pending.append((_FakeEvent(True), torch.tensor(2), 10))
    with pytest.raises(ValueError, match="2 non-finite"):  # landed: raised without waiting
        model.check_deferred_input(wait=False)
    import copy
    pending.append((_FakeEvent(False), torch.tensor(0), 10))
    assert not copy.deepcopy(model)._pending_finite_checks  # copies carry no events


# ---------------------------------------------------------------- checkpoints

def test_checkpoint_errors(tmp_path):
    cfg = sl.get_config("cifar10-4-256")
    path = save_checkpoint(tmp_path / "c.pt", dict(model={"w": torch.ones(3)}, config=train.config_to_dict(cfg),
                                                    preset="cifar10-4-256"))
    ckpt = load_checkpoint(path, sha256=sha256sum(path))
    check_same_model(ckpt, cfg, "cifar10-4-256")
    check_same_model(ckpt, sl.get_config("cifar10-4-256", backend="numba"), "cifar10-4-256")  # same weights
    with pytest.raises(CheckpointError, match=r"preset 'cifar10-4-256', not of 'cifar10-4-384'.*embed_dim"):
        check_same_model(ckpt, sl.get_config("cifar10-4-384"), "cifar10-4-384")
    with pytest.raises(CheckpointError, match="has sha256 .* expected 0000"):
        load_checkpoint(path, sha256="0" * 64)
    truncated = tmp_path / "t.pt"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_checkpoint(truncated)
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "missing.pt")
    evil = tmp_path / "evil.pt"
    torch.save({"obj": train.Recipe}, evil)  # a pickled class: weights_only refuses it
    with pytest.raises(CheckpointError, match="weights_only"):
        load_checkpoint(evil)
    assert not list(tmp_path.glob(".*tmp*"))  # no temporary file left behind


def test_a_checkpoint_mapped_to_another_device_keeps_generator_states_on_the_cpu(tmp_path):
    """--resume on CUDA crashed: the generator states were mapped to the GPU with the weights, and
    torch.set_rng_state takes only a CPU ByteTensor. "meta" stands in for the GPU here."""
    from spikformer_lite.checkpoint import rng_state, set_rng_state

    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.AdamW(model.parameters())
    model(torch.randn(4, 3)).sum().backward()
    optimizer.step()
    saved = rng_state()
    after = torch.rand(3)  # the draw that follows the saved state
    save_checkpoint(tmp_path / "c.pt", dict(model=model.state_dict(), optimizer=optimizer.state_dict(),
                                            rng=saved, gen_state=torch.Generator().get_state()))
    ckpt = load_checkpoint(tmp_path / "c.pt", map_location="meta")
    assert ckpt["model"]["weight"].device.type == "meta"
    assert all(t.device.type == "meta" for state in ckpt["optimizer"]["state"].values() for t in state.values()
               if t.dim() > 0)  # the moments go to the device; AdamW's step count may stay a CPU scalar
    assert ckpt["rng"]["torch"].device.type == "cpu" and ckpt["gen_state"].device.type == "cpu"
    torch.rand(100)  # move on
    set_rng_state(ckpt["rng"])  # raised "RNG state must be a torch.ByteTensor" when mapped with the weights
    assert torch.equal(torch.rand(3), after)  # the restored state is the saved one


@needs_cifar
def test_resume_after_sigkill_gives_the_same_weights_bit_for_bit(tmp_path):
    cli(*TINY, "--out", str(tmp_path / "straight"))
    # the same run, checkpointing after every step, killed with SIGKILL inside its second epoch
    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "spikformer_lite.train", *TINY, "--out", str(killed),
                             "--checkpoint-minutes", "1e-9"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            ckpt = torch.load(killed / "last.pt", weights_only=True)
            if ckpt["epoch"] == 1 and ckpt["step"] >= 3:
                break
        except (FileNotFoundError, RuntimeError, EOFError):
            pass
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL, "the run ended before it could be killed: the test would prove nothing"
    left = torch.load(killed / "last.pt", weights_only=True)
    assert left["epoch"] == 1 and left["step"] > 0  # killed mid-epoch
    out = cli(*TINY, "--out", str(killed), "--checkpoint-minutes", "1e-9", "--resume").stdout
    assert "resumed" in out
    a, b = weights(tmp_path / "straight" / "last.pt"), weights(killed / "last.pt")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    log_a = json.loads((tmp_path / "straight" / "log.json").read_text())
    log_b = json.loads((killed / "log.json").read_text())
    assert [r["test_acc"] for r in log_a] == [r["test_acc"] for r in log_b]
    assert [r["train_loss"] for r in log_a] == [r["train_loss"] for r in log_b]


@needs_cifar
def test_resume_refuses_other_flags(tmp_path):
    cli(*TINY, "--out", str(tmp_path / "r"), "--stop-after-epochs", "1")
    p = cli(*TINY, "--out", str(tmp_path / "r"), "--resume", "--lr", "1e-2", check=False)
    assert p.returncode != 0 and "resume with the same flags" in p.stderr
    p = cli(*BASE, "--set", "depth=2", "embed_dim=32", "num_heads=2", "--out", str(tmp_path / "r"), "--resume",
            check=False)  # another model in the same folder
    assert p.returncode != 0 and "depth: checkpoint 1, requested 2" in p.stderr
    p = cli(*TINY, "--out", str(tmp_path / "r"), check=False)
    assert p.returncode != 0 and "pass --resume" in p.stderr


@needs_cifar
def test_a_checkpoint_from_before_a_recipe_field_existed_resumes_with_its_default(tmp_path):
    cli(*TINY, "--out", str(tmp_path / "r"), "--stop-after-epochs", "1")
    ckpt = load_checkpoint(tmp_path / "r" / "last.pt")
    del ckpt["meta"]["recipe"]["filter_bias_and_bn"]  # as written before the field was added (False: all decay)
    save_checkpoint(tmp_path / "r" / "last.pt", ckpt)
    assert "resumed" in cli(*TINY, "--out", str(tmp_path / "r"), "--resume").stdout


# ---------------------------------------------------------------- torchrun

@needs_cifar
def test_torchrun_two_processes_match_one_process_on_the_same_global_batch(tmp_path):
    """DDP with per-process BatchNorm statistics (as the official code, which has no SyncBatchNorm by
    default): each process normalises its half of the batch, and the gradients are averaged. One process
    computes the same by running the two halves separately and averaging their losses."""
    args = ["--device", "cpu", "--preset", "cifar10-4-384", "--recipe", "quick", "--set", "depth=1", "embed_dim=32", "num_heads=2",
            "--T", "2", "--train-subset", "256", "--test-subset", "64", "--batch-size", "32", "--epochs", "1",
            "--warmup-epochs", "0", "--augment", "none", "--no-progress", "--threads", "1", "--backend", "torch",
            "--max-steps", "1"]
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           "-m", "spikformer_lite.train", *args, "--out", str(tmp_path / "ddp")],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ddp = load_checkpoint(tmp_path / "ddp" / "last.pt")

    torch.manual_seed(0)
    cfg = sl.get_config("cifar10-4-384", **{**train.DATASETS["cifar10"][1], "depth": 1, "embed_dim": 32,
                                            "num_heads": 2, "T": 2, "backend": "torch"})
    model = sl.Spikformer(cfg)
    init = {n: p.detach().clone() for n, p in model.named_parameters()}
    recipe = train.get_recipe("cifar10", "quick", batch_size=32, epochs=1, warmup_epochs=0, augment="none")
    opt = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    split = train.load_split("cifar10", "train", root=ROOT).subset(256, 0)
    halves = [train.epoch_order(len(split), 0, 0, 32, rank, 2) for rank in (0, 1)]
    model.train()
    for g in opt.param_groups:
        g["lr"] = train.lr_at(0.0, recipe)
    opt.zero_grad()
    for rank in (0, 1):
        x, target = train.make_batch(split, halves[rank][0], True, recipe, 0, None, cfg)
        (train.soft_cross_entropy(model(x), target) / 2).backward()
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters()}
    opt.step()
    # One AdamW step moves each weight by about lr * sign(gradient): where a gradient is rounding noise (the bias
    # of a linear layer before a BatchNorm has an exact gradient of zero) its sign, and so a full-size step,
    # depends on the summation order, which differs between the two processes' all-reduce and this loop (and
    # between CPUs: over several steps such differences grow into different spikes). Compare every weight whose
    # gradient stands clear of that noise: at least 1% of the largest in its tensor (the biases before a BatchNorm
    # are all noise, and left out).
    compared = total = 0
    for name, p in model.named_parameters():
        if name.endswith("linear.bias"):
            continue
        g = grads[name]
        clear = g.abs() >= 1e-2 * g.abs().max()
        compared, total = compared + int(clear.sum()), total + g.numel()
        torch.testing.assert_close(ddp["model"][name][clear], p.detach()[clear], rtol=1e-3, atol=1e-5,
                                   msg=lambda m, name=name: f"{name}: {m}")
    assert compared > 0.8 * total, (compared, total)
    assert max((ddp["model"][n] - p).abs().max().item() for n, p in init.items()) > 1e-3  # it did train


@needs_cifar
def test_export_and_load_published_checkpoint(tmp_path):
    from spikformer_lite.published import export, load_published

    cli(*TINY, "--out", str(tmp_path / "run"), "--epochs", "1")
    entry = export(tmp_path / "run", "tiny", folder=tmp_path / "pub")
    assert entry["epochs_done"] == 1 and entry["test_n"] == 10_000 and entry["data_label"].startswith("CIFAR-10, JPEG")
    assert "--epochs 1" in entry["command"] and len(entry["sha256"]) == 64
    model, e = load_published("tiny", folder=tmp_path / "pub")
    trained = weights(tmp_path / "run" / "last.pt")
    for k, v in model.state_dict().items():  # float16 on disk, float32 in the model
        assert v.dtype == trained[k].dtype
        torch.testing.assert_close(v, trained[k].half().to(v.dtype), rtol=0, atol=0)
    result = train.evaluate(model, train.load_split("cifar10", "test", root=ROOT), cfg=model.cfg, progress=False)
    assert result["acc"] == e["test_acc"]
    path = tmp_path / "pub" / "tiny.pt"
    path.write_bytes(path.read_bytes()[:-10] + b"0123456789")  # tampered
    with pytest.raises(CheckpointError, match="has sha256"):
        load_published("tiny", folder=tmp_path / "pub")
    with pytest.raises(KeyError, match="no published checkpoint 'other'"):
        load_published("other", folder=tmp_path / "pub")


@needs_cifar
def test_a_second_stage_starts_from_the_first_and_the_manifest_records_both(tmp_path):
    """--init-from: the weights of a finished run, a fresh schedule; the export chains the two stages."""
    import csv

    from spikformer_lite.published import export

    first, second = tmp_path / "first", tmp_path / "second"
    cli(*TINY, "--out", str(first), "--epochs", "1")
    stage2 = [*TINY, "--out", str(second), "--epochs", "2", "--lr", "5e-4", "--init-from", str(first / "epoch.pt")]
    model = sl.create_model("cifar10-4-384", depth=1, embed_dim=32, num_heads=2, T=1)
    record = train._init_from(model, first / "epoch.pt", model.cfg, "cifar10-4-384", torch.device("cpu"), start=True)
    assert all(torch.equal(v, weights(first / "epoch.pt")[k]) for k, v in model.state_dict().items())
    assert record["epochs"] == 1 and len(record["log"]) == 1
    cli(*stage2)
    ckpt = load_checkpoint(second / "epoch.pt")
    assert ckpt["meta"]["init_from"]["sha256"] == sha256sum(first / "epoch.pt") and ckpt["epoch"] == 2
    entry = export(second, "staged", folder=tmp_path / "pub", evaluate_on_test=False)
    assert entry["epochs_done"] == 3 and entry["epochs_planned"] == 3
    assert [s["epochs"] for s in entry["stages"]] == [1, 2] and " && " in entry["command"]
    assert entry["command"].split(" && ")[1].endswith(f"--init-from {first / 'epoch.pt'}")
    rows = list(csv.DictReader(open(tmp_path / "pub" / "staged.log.csv")))
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2] and [r["stage"] for r in rows] == ["1", "2", "2"]
    assert float(rows[1]["wall_s"]) > float(rows[0]["wall_s"])
    with pytest.raises(AssertionError, match="started from"):  # resuming with another starting point
        cli(*[a if a != str(first / "epoch.pt") else str(second / "epoch.pt") for a in stage2], "--resume",
            "--epochs", "2")
    other = [*BASE, "--set", "depth=1", "embed_dim=64", "num_heads=2"]
    proc = cli(*other, "--out", str(tmp_path / "third"), "--init-from", str(first / "epoch.pt"), check=False)
    assert proc.returncode != 0 and "embed_dim: checkpoint 32, requested 64" in proc.stderr


@needs_cifar
def test_paper_recipe_runs_the_official_cifar_augmentation(tmp_path):
    out = cli("--preset", "cifar10-4-384", "--recipe", "paper", "--set", "depth=1", "embed_dim=32", "num_heads=2",
              "--T", "1", "--train-subset", "256", "--test-subset", "64", "--epochs", "1", "--warmup-epochs", "0",
              "--max-steps", "2", "--no-progress", "--threads", "1", "--out", str(tmp_path / "p")).stdout
    assert "1+10 epochs of 128" in out  # the cooldown follows the cosine
    log = json.loads((tmp_path / "p" / "log.json").read_text())
    assert len(log) == 11 and log[-1]["lr"] == pytest.approx(1e-5)  # cooldown at min_lr


def test_paper_recipe_on_event_data_in_tonic_layout(tmp_path):
    import fake_data

    for split in ("train", "test"):
        fake_data.write_dvsgesture(tmp_path, split, n=100, seed=int(split == "test"))  # tonic wants >= 100 files
    cli("--preset", "dvs128-2-256", "--recipe", "paper", "--set", "depth=1", "embed_dim=32", "num_heads=2",
        "--T", "2", "--epochs", "1", "--warmup-epochs", "0", "--cooldown-epochs", "0", "--no-progress",
        "--threads", "1", "--data-root", str(tmp_path), "--out", str(tmp_path / "dvs"))
    log = json.loads((tmp_path / "dvs" / "log.json").read_text())
    assert len(log) == 1 and 0 <= log[0]["test_acc"] <= 1
    run = json.loads((tmp_path / "dvs" / "run.json").read_text())
    assert run["config"]["image_size"] == 128 and run["config"]["in_channels"] == 2
    assert run["recipe"]["augment"] == "none" and run["recipe"]["epochs"] == 1  # --epochs overrides sec. 4.2's 190


@needs_cifar
def test_bf16_autocast_on_cpu_trains_and_stays_close_to_fp32(tmp_path):
    cli(*TINY, "--epochs", "1", "--max-steps", "3", "--out", str(tmp_path / "fp32"))
    cli(*TINY, "--epochs", "1", "--max-steps", "3", "--bf16", "--out", str(tmp_path / "bf16"))
    a, b = json.loads((tmp_path / "fp32" / "log.json").read_text()), json.loads((tmp_path / "bf16" / "log.json").read_text())
    assert abs(a[0]["train_loss"] - b[0]["train_loss"]) < 0.05  # same data and init; bf16 rounding only
    assert json.loads((tmp_path / "bf16" / "run.json").read_text())["bf16"] is True
    from spikformer_lite.published import model_from_checkpoint  # the logged test accuracy is float32's

    model = model_from_checkpoint(load_checkpoint(tmp_path / "bf16" / "epoch.pt"), backend="numba")
    test = train.load_split("cifar10", "test", root=ROOT).subset(64, 1)
    assert train.evaluate(model, test, cfg=model.cfg, progress=False)["acc"] == b[0]["test_acc"]
