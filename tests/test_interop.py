"""Our Spikformer against SpikingJelly 2.0's spikformer_cifar10, with the same weights."""

import pytest
import torch

import spikformer_lite as sl
from spikformer_lite.interop import compare_layers, load_spikingjelly_spikformer, pool_before_lif

sj_spikformer = pytest.importorskip("spikingjelly.activation_based.model.spikformer")
from spikingjelly.activation_based import functional  # noqa: E402


@pytest.fixture(scope="module")
def pair():
    torch.manual_seed(0)
    sj = sj_spikformer.spikformer_cifar10(T=4)
    x = (torch.rand(4, 8, 3, 32, 32) * 4 - 2)  # (T, B, 3, 32, 32), repeated below as direct encoding
    x = x[:1].expand(4, -1, -1, -1, -1).contiguous()
    with torch.no_grad():
        sl.calibrate_batchnorm(sj, x)  # realistic BN statistics, so that neurons fire
    functional.reset_net(sj)
    ours = load_spikingjelly_spikformer(sl.create_model("cifar10-4-384"), sj).eval()
    return ours, sj.eval(), x


def test_weights_move_over_and_the_models_part_at_the_first_pool_before_a_lif(pair):
    ours, sj, x = pair
    rows = {r["ours"]: r for r in compare_layers(ours, sj, x)}
    assert rows["sps.stages.0"]["max_abs_diff"] == rows["sps.stages.1"]["max_abs_diff"] == 0.0
    assert rows["sps.stages.2"]["differing"] > 0  # SpikingJelly pools before the LIF here, eq. 10 after
    assert rows["head"]["max_abs_diff"] > 0


def test_pooling_before_the_lif_reproduces_spikingjelly_stage_3(pair):
    ours, sj, x = pair
    with torch.no_grad():
        before = ours.sps.stages[1](ours.sps.stages[0](x))
        functional.reset_net(sj)
        theirs = sj.patch_embed.stages[2](sj.patch_embed.stages[1](sj.patch_embed.stages[0](x)))
        functional.reset_net(sj)
        assert torch.equal(pool_before_lif(ours.sps.stages[2], before), theirs)
        assert not torch.equal(ours.sps.stages[2](before), theirs)


def test_mismatched_model_is_refused(pair):
    _, sj, _ = pair
    with pytest.raises(ValueError, match="build the matching preset"):
        load_spikingjelly_spikformer(sl.create_model("cifar10-2-384"), sj)
