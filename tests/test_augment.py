"""The CIFAR training augmentation: each op against kornia/torch directly, probabilities, mixup, smoothing."""

import pytest
import torch

kornia = pytest.importorskip("kornia")
from spikformer_lite.data import augment  # noqa: E402


def images(B=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(B, 3, 32, 32, generator=g) * 0.5
    x[:, :, 8:24, 12:20] += 0.5  # a bright bar so that geometry shows
    return x


def test_about_half_the_images_are_changed_one_op_each():
    x = images(400)
    y = augment.rand_augment(x, generator=torch.Generator().manual_seed(1))
    changed = (y - x).abs().flatten(1).amax(1) > 1e-6
    assert 0.4 < changed.float().mean() < 0.6  # probability 0.5
    assert y.shape == x.shape and y.min() >= 0 and y.max() <= 1


@pytest.mark.parametrize("op", augment.OPS)
def test_each_op_matches_its_definition(op):
    x = images(8)
    g = torch.Generator().manual_seed(3)
    y = augment.rand_augment(x, magnitude=9.0, magnitude_std=0.0, prob=1.0, generator=g, ops=(op,))
    if op == "equalize":
        torch.testing.assert_close(y, kornia.enhance.equalize(x))
        return
    # the sign of each sample's op, recovered from the same generator stream
    g = torch.Generator().manual_seed(3)
    torch.randint(1, (8,), generator=g), torch.rand(8, generator=g), torch.randn(8, generator=g)
    sign = torch.where(torch.rand(8, generator=g) < 0.5, -1.0, 1.0)
    fill = torch.tensor(augment.CIFAR10_MEAN).view(1, 3, 1, 1)
    if op == "rotate":
        ref = kornia.geometry.transform.rotate(x - fill, sign * 27.0) + fill  # level 9 of 10 -> 27 degrees
    elif op == "translate_x":
        ref = kornia.geometry.transform.translate(x - fill, torch.stack([sign * 0.405 * 32, torch.zeros(8)], 1)) + fill
    elif op == "translate_y":
        ref = kornia.geometry.transform.translate(x - fill, torch.stack([torch.zeros(8), sign * 0.405 * 32], 1)) + fill
    else:  # shear_x by factor 0.27 about the top-left corner (PIL's convention, as timm)
        ref = kornia.geometry.transform.shear(x - fill, torch.stack([-sign * 0.27, torch.zeros(8)], 1)) + fill
    torch.testing.assert_close(y, ref.clamp(0, 1), rtol=1e-4, atol=1e-4)


def test_translation_fills_with_the_mean_colour():
    x = images(4)
    y = augment.rand_augment(x, magnitude=10, magnitude_std=0.0, prob=1.0, ops=("translate_x",),
                             generator=torch.Generator().manual_seed(0))
    fill = torch.tensor(augment.CIFAR10_MEAN).view(3, 1, 1).expand(3, 32, 5)
    for i in range(4):  # a 14.4-pixel shift leaves at least 14 columns of fill on one side
        assert torch.allclose(y[i, :, :, :5], fill, atol=1e-5) or torch.allclose(y[i, :, :, -5:], fill, atol=1e-5)


def test_smoothing_and_mixup_targets():
    labels = torch.tensor([0, 3, 3, 9])
    t = augment.smooth_one_hot(labels, 10, 0.1)
    torch.testing.assert_close(t.sum(1), torch.ones(4))
    assert t[0, 0] == pytest.approx(0.91) and t[0, 1] == pytest.approx(0.01)
    x = images(4)
    mixed, target = augment.mixup(x, labels, 10, lam=0.7)
    torch.testing.assert_close(mixed[0], 0.7 * x[0] + 0.3 * x[3])
    assert target[0, 0] == pytest.approx(0.7 * 0.91 + 0.3 * 0.01) and target[0, 9] == pytest.approx(0.3 * 0.91 + 0.7 * 0.01)


def test_recipe_switches_mixup_off_and_erases():
    torch.manual_seed(0)
    aug = augment.CifarTrainAugment(num_classes=10, mixup_off_epoch=200)
    x, labels = images(256), torch.randint(0, 10, (256,))
    _, target_early = aug(x, labels, epoch=0)
    _, target_late = aug(x, labels, epoch=200)
    assert (target_early.max(1).values < 0.9).any()  # mixed targets
    torch.testing.assert_close(target_late, augment.smooth_one_hot(labels, 10, 0.1))  # no mixup after the switch
    aug_erase_only = augment.CifarTrainAugment(mixup_alpha=0.0, magnitude=0.0, magnitude_std=0.0)
    y, _ = aug_erase_only(x, labels, epoch=0)
    erased = ((y == 0).flatten(1).sum(1) > 20).float().mean()  # erased blocks are exactly 0
    assert 0.15 < erased < 0.35  # probability 0.25
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        aug(x[:, :1], labels, epoch=0)


def test_flip_crop_moves_whole_images():
    x = images(16)
    y = augment.flip_crop(x, generator=torch.Generator().manual_seed(0))
    assert y.shape == x.shape
    # each output is a shifted (and maybe mirrored) copy: its centre 24 x 24 appears in the padded original
    padded = torch.nn.functional.pad(x, (4,) * 4)
    for i in range(16):
        found = any(torch.equal(y[i, :, 4:28, 4:28], c[:, dy + 4:dy + 28, dx + 4:dx + 28])
                    for c in (padded[i], padded[i].flip(-1)) for dy in range(9) for dx in range(9))
        assert found, i


def test_snn_augment_wide_keeps_shape_and_events_stay_counts():
    frames = (torch.rand(32, 4, 2, 16, 16) < 0.3).float() * 3
    y = augment.snn_augment_wide(frames, generator=torch.Generator().manual_seed(0))
    assert y.shape == frames.shape
    values = set(torch.unique(y).tolist())
    assert values <= {0.0, 3.0}  # nearest interpolation and zero fill: no new values
    same = [torch.equal(y[i], frames[i]) for i in range(32)]
    assert 0 < sum(same) < 32  # identity is one op of six; the others change the frames
    # one op per recording, the same for all its frames: frame-to-frame differences stay zero where they were
    stat = torch.zeros(1, 4, 2, 16, 16) + (torch.rand(1, 1, 2, 16, 16) < 0.3).float()
    ys = augment.snn_augment_wide(stat.repeat(8, 1, 1, 1, 1), generator=torch.Generator().manual_seed(1))
    assert all(torch.equal(ys[i, t], ys[i, 0]) for i in range(8) for t in range(4))
