"""SpikingJelly 2.0's Spikformer next to ours: move its weights into our model, compare layer by layer.

SpikingJelly's ``activation_based.model.spikformer.spikformer_cifar10`` is an independent
implementation of the same paper. It differs from ours (and from eq. 10 and the official code) in
one place: in SPS stages 3 and 4 it max-pools *before* the LIF neuron, ours after it. Everything
else maps one to one:

========================================================  ==========================================
SpikingJelly                                              ours
========================================================  ==========================================
``patch_embed.stages.i.conv_bn.block.{0,1}``              ``sps.stages.i.{conv,bn}``
``patch_embed.positional_encoding.conv_bn.block.{0,1}``   ``sps.rpe.{conv,bn}``
``blocks.j.attn.qkv_conv_bn.{0,1}`` (3D channels)         ``blocks.j.attn.{q,k,v}.{linear,bn}``
``blocks.j.attn.proj_conv_bn.{0,1}``                      ``blocks.j.attn.proj.{linear,bn}``
``blocks.j.mlp.fc{1,2}.{0,1}``                            ``blocks.j.mlp.fc{1,2}.{linear,bn}``
``head``                                                  ``head``
========================================================  ==========================================

SpikingJelly's 1x1 convolutions have no bias where our CIFAR linears have one (the official
CIFAR code uses ``nn.Linear``); those biases are set to zero, which makes the two computations equal.
"""

import torch

# The layers compared, in forward order: (our module, SpikingJelly's module, what it is).
LAYER_PAIRS = [
    *[(f"sps.stages.{i}", f"patch_embed.stages.{i}", f"SPS stage {i + 1}") for i in range(4)],
    ("sps.rpe", "patch_embed.positional_encoding", "RPE"),
    *[(f"blocks.{j}", f"blocks.{j}", f"encoder block {j + 1}") for j in range(4)],
    ("head", "head", "head (logits)"),
]


def _copy_bn(dst, src, rows=slice(None)):
    for name in ("weight", "bias", "running_mean", "running_var"):
        getattr(dst, name).data.copy_(getattr(src, name).data[rows])
    dst.num_batches_tracked.data.copy_(src.num_batches_tracked.data)


def _copy_linear(dst, conv1d, rows=slice(None)):
    dst.weight.data.copy_(conv1d.weight.data[rows].squeeze(-1))
    if dst.bias is not None:
        if conv1d.bias is not None:
            dst.bias.data.copy_(conv1d.bias.data[rows])
        else:
            dst.bias.data.zero_()


def load_spikingjelly_spikformer(model, sj_model):
    """Copy the weights and BatchNorm statistics of SpikingJelly's ``spikformer_cifar10`` into ``model``
    (our ``cifar10-4-384``, or any preset with the same depth, width and SPS). Returns ``model``."""
    cfg = model.cfg
    sj_blocks, sj_stages = list(sj_model.blocks), list(sj_model.patch_embed.stages)
    if len(sj_blocks) != cfg.depth or len(sj_stages) != 4 or sj_model.embed_dims != cfg.embed_dim:
        raise ValueError(f"SpikingJelly model has {len(sj_blocks)} blocks of {sj_model.embed_dims}; "
                         f"ours has {cfg.depth} of {cfg.embed_dim}: build the matching preset")
    with torch.no_grad():
        for ours, theirs in zip(list(model.sps.stages) + [model.sps.rpe],
                                sj_stages + [sj_model.patch_embed.positional_encoding]):
            conv, bn = theirs.conv_bn.block[0], theirs.conv_bn.block[1]
            ours.conv.weight.copy_(conv.weight)
            _copy_bn(ours.bn, bn)
        D = cfg.embed_dim
        for ours, theirs in zip(model.blocks, sj_blocks):
            qkv_conv, qkv_bn = theirs.attn.qkv_conv_bn[0], theirs.attn.qkv_conv_bn[1]
            for part, rows in zip((ours.attn.q, ours.attn.k, ours.attn.v), (slice(0, D), slice(D, 2 * D), slice(2 * D, 3 * D))):
                _copy_linear(part.linear, qkv_conv, rows)
                _copy_bn(part.bn, qkv_bn, rows)
            _copy_linear(ours.attn.proj.linear, theirs.attn.proj_conv_bn[0])
            _copy_bn(ours.attn.proj.bn, theirs.attn.proj_conv_bn[1])
            for fc in ("fc1", "fc2"):
                _copy_linear(getattr(ours.mlp, fc).linear, getattr(theirs.mlp, fc)[0])
                _copy_bn(getattr(ours.mlp, fc).bn, getattr(theirs.mlp, fc)[1])
        model.head.weight.copy_(sj_model.head.weight)
        model.head.bias.copy_(sj_model.head.bias)
    return model


def _as_tokens(y):
    """SpikingJelly keeps (T, B, C, H, W) between blocks; ours (T, B, N, D) after the SPS."""
    return y.flatten(3).transpose(2, 3) if y.dim() == 5 else y


def compare_layers(model, sj_model, x):
    """Run both models on ``x`` (T, B, C, H, W) in eval mode and compare each pair of ``LAYER_PAIRS``.

    Returns rows (dicts) in forward order: layer, output shape, the fraction of output elements that
    differ, and the largest absolute difference. Spike outputs are compared exactly.
    """
    from spikingjelly.activation_based import functional

    outputs = {"ours": {}, "sj": {}}

    def hook(side, name):
        def store(module, inputs, output):
            outputs[side][name] = output.detach()
        return store

    handles = [model.get_submodule(a).register_forward_hook(hook("ours", a)) for a, _, _ in LAYER_PAIRS]
    handles += [sj_model.get_submodule(b).register_forward_hook(hook("sj", b)) for _, b, _ in LAYER_PAIRS]
    try:
        with torch.no_grad():
            model.eval()(x)
            sj_model.eval()
            functional.reset_net(sj_model)
            sj_model(x)
            functional.reset_net(sj_model)
    finally:
        for h in handles:
            h.remove()
    rows = []
    for ours_name, sj_name, what in LAYER_PAIRS:
        a, b = outputs["ours"][ours_name], outputs["sj"][sj_name]
        if ours_name == "head" and b.dim() == a.dim() + 1:
            b = b.mean(0)  # SpikingJelly applies its head per time step, then averages
        a, b = _as_tokens(a), _as_tokens(b)
        diff = (a - b).abs()
        rows.append(dict(layer=what, ours=ours_name, spikingjelly=sj_name, shape=tuple(a.shape),
                         differing=float((diff > 1e-6).float().mean()), max_abs_diff=float(diff.max())))
    return rows


def pool_before_lif(stage, x):
    """Run one of our SPS stages in SpikingJelly's order, Conv → BN → MaxPool → LIF, instead of
    eq. 10's Conv → BN → LIF → MaxPool. x: (T, B, C, H, W). For showing where the two models part."""
    T, B = x.shape[:2]
    y = stage.pool(stage.bn(stage.conv(x.flatten(0, 1))))
    return stage.lif(y.reshape(T, B, *y.shape[1:]))
