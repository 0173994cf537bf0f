#!/usr/bin/env python3
"""Real pruning artifacts from another framework, for `cyclesparse verify`.

    /usr/bin/python3 scripts/torch-pruning-artifacts.py <out-dir> [--levels 3]

Runs small iterative-pruning loops with PyTorch's own torch.nn.utils.prune (global L1, amount 0.2
of the remaining weights per level, as torch counts it: round-half-even of amount x remaining) on
an MLP and a small convnet, each as IMP (rewind to the initialisation) and LRR (continue from the
trained weights, restart the learning rate), and saves every level as .npz files plus a manifest
(docs/VERIFY.md). Two deliberately broken variants of IMP on the MLP:

- threshold-ties: prunes every weight whose |w| <= the k-th smallest (torch.kthvalue style) on
  weights rounded to a coarse grid, so ties make it prune more than the declared count;
- momentum-revival: makes the pruning permanent (prune.remove) and keeps training with momentum and
  weight decay without re-applying the mask, so pruned weights come back.

Needs Debian's python3-torch and python3-numpy. Deterministic for a given torch build (one thread,
fixed seeds).
"""

import argparse
import json
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.utils.prune as prune

RATE = 0.2


def mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 24), nn.ReLU(), nn.Linear(24, 16), nn.ReLU(), nn.Linear(16, 4))


def convnet():
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 4 * 4, 4))


def prunable(model):
    """(name, module) of every weight that is pruned: conv and linear weights, not biases."""
    return [(f"{name}.weight", m) for name, m in model.named_modules() if isinstance(m, (nn.Linear, nn.Conv2d))]


def data():
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(256, 1, 8, 8, generator=generator)
    teacher = torch.randn(64, 4, generator=generator)
    y = (x.flatten(1) @ teacher).argmax(1)
    return x, y


def train(model, x, y, steps=30):
    """SGD with momentum and weight decay; a fresh optimizer per level (the learning rate restarts)."""
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    loss_fn = nn.CrossEntropyLoss()
    for step in range(steps):
        batch = slice((step * 64) % 256, (step * 64) % 256 + 64)
        optimizer.zero_grad()
        loss_fn(model(x[batch]), y[batch]).backward()
        optimizer.step()


def quantise(model):
    """Rounds every prunable weight to a coarse grid (1/16), as low-precision weights are: many ties."""
    with torch.no_grad():
        for _, m in prunable(model):
            target = m.weight_orig if hasattr(m, "weight_orig") else m.weight
            target.copy_(torch.round(target * 16) / 16)


def effective(model):
    """The weights the network computes with: weight_orig * weight_mask while pruned.

    Not `module.weight`: prune's forward pre-hook only refreshes that attribute at the next
    forward, so after an optimizer step or a rewind it is stale (cyclesparse verify caught this
    script saving stale start weights; the rewind check failed).
    """
    out = {}
    for name, m in prunable(model):
        weight = m.weight_orig * m.weight_mask if hasattr(m, "weight_orig") else m.weight
        out[name] = weight.detach().numpy().copy()
    return out


def masks_of(model):
    out = {}
    for name, m in prunable(model):
        mask = getattr(m, "weight_mask", None)
        out[name] = (mask if mask is not None else torch.ones_like(m.weight)).detach().numpy().astype(np.float32)
    return out


def save(directory, file, tensors, compressed=False):
    os.makedirs(directory, exist_ok=True)
    (np.savez_compressed if compressed else np.savez)(os.path.join(directory, file), **tensors)


def set_weights(model, weights, masks):
    """Rewinds: the unpruned tensor becomes `weights` (weight_orig while pruned)."""
    for name, m in prunable(model):
        target = m.weight_orig if hasattr(m, "weight_orig") else m.weight
        with torch.no_grad():
            target.copy_(torch.from_numpy(weights[name]))


def threshold_prune(model, amount):
    """Broken on purpose: prunes every alive weight with |w| <= the k-th smallest alive |w|."""
    modules = prunable(model)
    alive = torch.cat([getattr(m, "weight_mask", torch.ones_like(m.weight)).flatten() for _, m in modules]).bool()
    scores = torch.cat([m.weight.detach().abs().flatten() for _, m in modules])
    k = round(amount * int(alive.sum()))
    threshold = scores[alive].kthvalue(k).values
    keep = ~(alive.logical_not() | (scores <= threshold))
    at = 0
    for _, m in modules:
        n = m.weight.numel()
        prune.custom_from_mask(m, "weight", keep[at:at + n].view_as(m.weight).float())
        at += n


def run(build, method, out, levels, broken=None):
    torch.manual_seed(0)
    model = build()
    x, y = data()
    if broken == "threshold-ties":
        quantise(model)
    init = effective(model)
    if method == "imp":
        save(out, "rewind.npz", init)
    manifest = {
        "format": "cyclesparse-pruning/1",
        "method": method,
        "scope": "global",
        "countingRule": "round-half-even",
        "prunable": [name for name, _ in prunable(model)],
        "rewind": {"weights": "rewind.npz", "point": "initialisation"} if method == "imp" else None,
        "levels": [],
    }
    if manifest["rewind"] is None:
        del manifest["rewind"]
    for level in range(levels + 1):
        scores = None
        if level > 0:
            scores = {name: np.abs(w) for name, w in effective(model).items()}
            if broken == "threshold-ties":
                threshold_prune(model, RATE)
            elif broken == "momentum-revival":
                # The pruned tensors are plain parameters again: prune from scratch to the cumulative target.
                prune.global_unstructured([(m, "weight") for _, m in prunable(model)], pruning_method=prune.L1Unstructured,
                                          amount=1 - (1 - RATE) ** level)
            else:
                prune.global_unstructured([(m, "weight") for _, m in prunable(model)], pruning_method=prune.L1Unstructured, amount=RATE)
            masks = masks_of(model)
            if method == "imp":
                set_weights(model, init, masks)
        masks = masks_of(model)
        start = effective(model)
        if broken == "momentum-revival" and level > 0:
            for _, m in prunable(model):
                prune.remove(m, "weight")  # permanent: the optimizer now moves pruned weights
        train(model, x, y)
        # Evaluate, as a real loop does before pruning. It also matters: global_unstructured ranks
        # `module.weight`, which prune's hook refreshes only in a forward pass; without one it
        # ranks the weights from before the last optimizer step (verify's score-order check fails).
        if broken == "threshold-ties":
            quantise(model)
        with torch.no_grad():
            model(x)
        end = effective(model)
        directory = os.path.join(out, f"level-{level}")
        save(directory, "masks.npz", masks, compressed=True)
        save(directory, "start.npz", start)
        save(directory, "weights.npz", end)
        entry = {"rate": RATE if level > 0 else 0.0, "masks": f"level-{level}/masks.npz",
                 "start": f"level-{level}/start.npz", "weights": f"level-{level}/weights.npz"}
        if scores is not None:
            save(directory, "scores.npz", scores)
            entry["scores"] = f"level-{level}/scores.npz"
        manifest["levels"].append(entry)
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out")
    parser.add_argument("--levels", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    for model_name, build in (("mlp", mlp), ("convnet", convnet)):
        for method in ("imp", "lrr"):
            run(build, method, os.path.join(args.out, f"{model_name}-{method}"), args.levels)
    for broken in ("threshold-ties", "momentum-revival"):
        run(mlp, "imp", os.path.join(args.out, f"mlp-imp-broken-{broken}"), args.levels, broken)
    print(json.dumps({"torch": torch.__version__, "numpy": np.__version__, "out": args.out}))


if __name__ == "__main__":
    main()
