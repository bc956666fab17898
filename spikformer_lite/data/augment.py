"""The official CIFAR training augmentation, batched on the device (kornia).

As the official recipe (cifar10.yml and aa_snn.py of the Spikformer code):
- horizontal flip with probability 0.5 (train.py's --hflip default; the crop of cifar10.yml,
  scale and ratio 1.0, keeps the whole image);
- RandAugment restricted to Equalize, Rotate, ShearX, TranslateX, TranslateY: one op per image,
  chosen uniformly, applied with probability 0.5, magnitude 9 of 10 with Gaussian noise of
  std 0.4 on the magnitude ("rand-m9-n1-mstd0.4-inc1"); geometric ops fill with the mean colour;
- normalisation by the CIFAR mean and std;
- random erasing with probability 0.25 (erased pixels 0 after normalisation);
- mixup with alpha 0.5 on the whole batch (paired with the batch reversed), until a
  configurable epoch (200 in the recipe), with label smoothing 0.1 on the targets.

Images go in as float (B, 3, H, W) in [0, 1], on any device.

Also here: the cheap flip-and-crop augmentation of the CPU-friendly "quick" recipe, and the
official CIFAR10-DVS augmentation of event frames (cifar10dvs/train.py: a horizontal flip,
then one TrivialAugment-style op per recording, ``SNNAugmentWide`` of its autoaugment.py).
"""

import math

import torch

from .cifar import CIFAR10_MEAN, normalize

OPS = ("equalize", "rotate", "shear_x", "translate_x", "translate_y")


def rand_augment(images, magnitude=9.0, magnitude_std=0.4, prob=0.5, translate_pct=0.45, generator=None,
                 fill=CIFAR10_MEAN, ops=OPS):
    """Apply one randomly chosen op of ``ops`` to each image with probability ``prob``.

    Levels map to op arguments as timm's RandAugment does (level / 10): rotate by up to 30
    degrees, shear by a factor up to 0.3, translate by up to ``translate_pct`` of the size,
    each with a random sign. Returns a new tensor.
    """
    import kornia

    B, _, H, W = images.shape
    dev = images.device
    choice = torch.randint(len(ops), (B,), generator=generator).to(dev)
    apply = (torch.rand(B, generator=generator) < prob).to(dev)
    level = (magnitude + magnitude_std * torch.randn(B, generator=generator)).clamp(0, 10).to(dev) / 10
    sign = torch.where(torch.rand(B, generator=generator) < 0.5, -1.0, 1.0).to(dev)
    fill = torch.tensor(fill, device=dev, dtype=images.dtype).view(1, 3, 1, 1)
    out = images.clone()
    for i, op in enumerate(ops):
        sel = torch.nonzero(apply & (choice == i)).flatten()
        if len(sel) == 0:
            continue
        x = images[sel]
        amount = (level * sign)[sel]
        if op == "equalize":
            y = kornia.enhance.equalize(x)
        else:
            if op == "rotate":
                matrix = kornia.geometry.transform.get_rotation_matrix2d(
                    torch.tensor([[(W - 1) / 2, (H - 1) / 2]], device=dev).expand(len(sel), 2),
                    amount * 30.0, torch.ones(len(sel), 2, device=dev))
            else:
                matrix = torch.zeros(len(sel), 2, 3, device=dev)
                matrix[:, 0, 0] = matrix[:, 1, 1] = 1
                if op == "shear_x":  # as PIL's affine shear in timm: input x = x + s y, about the top-left corner
                    matrix[:, 0, 1] = -amount * 0.3
                elif op == "translate_x":
                    matrix[:, 0, 2] = amount * translate_pct * W
                else:
                    matrix[:, 1, 2] = amount * translate_pct * H
            # warp (x - fill) with zero padding, then add fill back: the border takes the fill colour
            y = kornia.geometry.transform.warp_affine(x - fill, matrix.to(x.dtype), (H, W), padding_mode="zeros") + fill
        out[sel] = y.clamp(0, 1)
    return out


def hflip(x, prob=0.5, generator=None):
    """Flip each sample of ``x`` (B, ..., W) left-right with probability ``prob``."""
    flip = (torch.rand(len(x), generator=generator) < prob).to(x.device)
    return torch.where(flip.view(-1, *[1] * (x.dim() - 1)), x.flip(-1), x)


def random_crop(images, padding=4, generator=None):
    """Pad (B, C, H, W) images with ``padding`` zeros on each side and crop a random H x W window."""
    B, _, H, W = images.shape
    padded = torch.nn.functional.pad(images, (padding,) * 4)
    dy = torch.randint(2 * padding + 1, (B,), generator=generator).tolist()
    dx = torch.randint(2 * padding + 1, (B,), generator=generator).tolist()
    return torch.stack([padded[i, :, y:y + H, x:x + W] for i, (y, x) in enumerate(zip(dy, dx))])


def flip_crop(images, generator=None):
    """The quick recipe: random crop with 4-pixel zero padding, then a horizontal flip (p = 0.5)."""
    return hflip(random_crop(images, 4, generator), 0.5, generator)


DVS_OPS = ("identity", "shear_x", "translate_x", "translate_y", "rotate", "cutout")


def snn_augment_wide(frames, num_bins=31, generator=None):
    """One op per recording, the same for all its frames: (B, T, P, H, W) -> same shape.

    As ``SNNAugmentWide`` of the official CIFAR10-DVS code: an op of ``DVS_OPS`` chosen
    uniformly, a magnitude drawn uniformly from 31 bins (shear factor tan(m), m up to 0.3;
    translation up to 5 whole pixels; rotation up to 30 degrees), a random sign, nearest
    interpolation and zero fill, about the centre; cutout erases one square of 0.1% to 11%
    of the area with zeros.
    """
    import kornia

    B, T, P, H, W = frames.shape
    dev = frames.device
    choice = torch.randint(len(DVS_OPS), (B,), generator=generator)
    bin_ = torch.randint(num_bins, (B,), generator=generator).float() / (num_bins - 1) * 2 - 1  # in [-1, 1]
    sign = torch.where(torch.randint(2, (B,), generator=generator) == 1, -1.0, 1.0)
    out = frames.clone()
    x = frames.reshape(B, T * P, H, W)
    center = torch.tensor([[(W - 1) / 2, (H - 1) / 2]])
    for i in range(B):
        op, m = DVS_OPS[int(choice[i])], float(bin_[i] * sign[i])
        if op == "identity":
            continue
        if op == "cutout":
            area = H * W * (0.001 + (0.11 - 0.001) * float(torch.rand(1, generator=generator)))
            side = max(1, min(H, W, int(round(math.sqrt(area)))))
            y0 = int(torch.randint(H - side + 1, (1,), generator=generator))
            x0 = int(torch.randint(W - side + 1, (1,), generator=generator))
            out[i, ..., y0:y0 + side, x0:x0 + side] = 0
            continue
        if op == "rotate":
            matrix = kornia.geometry.transform.get_rotation_matrix2d(center, torch.tensor([m * 30.0]),
                                                                     torch.ones(1, 2))
        else:
            matrix = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])
            if op == "shear_x":  # x' = x + tan(m) (y - cy)
                s = math.tan(m * 0.3)
                matrix[0, 0, 1], matrix[0, 0, 2] = s, -s * center[0, 1]
            elif op == "translate_x":
                matrix[0, 0, 2] = float(int(m * 5.0))
            else:
                matrix[0, 1, 2] = float(int(m * 5.0))
        y = kornia.geometry.transform.warp_affine(x[i:i + 1], matrix.to(dev, x.dtype), (H, W), mode="nearest",
                                                  padding_mode="zeros")
        out[i] = y.view(T, P, H, W)
    return out


def smooth_one_hot(labels, num_classes, smoothing=0.1):
    """Label smoothing: 1 - smoothing + smoothing / K on the class, smoothing / K elsewhere."""
    off = smoothing / num_classes
    target = torch.full((len(labels), num_classes), off, device=labels.device)
    target.scatter_(1, labels.view(-1, 1), 1 - smoothing + off)
    return target


def mixup(images, labels, num_classes, lam, smoothing=0.1):
    """Mix each image with its partner in the reversed batch: lam x + (1 - lam) x.flip(0).

    One lam per batch (timm's batch mode; the recipe draws it from Beta(0.5, 0.5)).
    Returns (images, soft targets) with label smoothing.
    """
    target = smooth_one_hot(labels, num_classes, smoothing)
    return lam * images + (1 - lam) * images.flip(0), lam * target + (1 - lam) * target.flip(0)


class CifarTrainAugment:
    """The whole recipe: ``aug(images, labels, epoch)`` -> (normalised images, soft targets).

    ``mixup_off_epoch``: from this epoch on, no mixup (label smoothing stays).
    """

    def __init__(self, num_classes=10, mixup_alpha=0.5, mixup_off_epoch=200, smoothing=0.1, erase_prob=0.25,
                 magnitude=9.0, magnitude_std=0.4, hflip_prob=0.5):
        import kornia

        self.hflip_prob = hflip_prob
        self.num_classes, self.mixup_alpha, self.mixup_off_epoch = num_classes, mixup_alpha, mixup_off_epoch
        self.smoothing, self.magnitude, self.magnitude_std = smoothing, magnitude, magnitude_std
        self.erase = kornia.augmentation.RandomErasing(scale=(0.02, 1 / 3), ratio=(0.3, 3.3), value=0.0,
                                                       p=erase_prob)

    def __call__(self, images, labels, epoch, generator=None):
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"images must have shape (B, 3, H, W) with values in [0, 1], got {tuple(images.shape)}")
        x = hflip(images, self.hflip_prob, generator) if self.hflip_prob > 0 else images
        x = rand_augment(x, self.magnitude, self.magnitude_std, generator=generator)
        x = self.erase(normalize(x))
        if self.mixup_alpha > 0 and epoch < self.mixup_off_epoch:
            lam = float(torch.distributions.Beta(self.mixup_alpha, self.mixup_alpha).sample())
            x, target = mixup(x, labels, self.num_classes, lam, self.smoothing)
        else:
            target = smooth_one_hot(labels, self.num_classes, self.smoothing)
        return x, target
