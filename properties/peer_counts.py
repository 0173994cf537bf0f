"""Counts that peer libraries produce, for properties/conventions-peers.test.ts.

Reads {"cases": [...]} as JSON on stdin and prints one result per case:
- "torch-levels": torch.nn.utils.prune itself, L1 pruning `rate` per level, globally
  (global_unstructured) or per layer (l1_unstructured); kept weights per layer after each level.
- "torch-random": random_unstructured(amount) on each layer; kept weights per layer.
- "rigl-erk": rigl's ERK layer densities, written here from the algorithm in Evci et al.'s code
  (a loop that makes the densest layers dense until every density is at most 1), then each
  layer's pruned count floor(sparsity * n) as rigl's random masks take it. Independent of the
  TypeScript implementation it checks.
"""

import json
import math
import sys

import torch
from torch.nn.utils import prune


class Holder(torch.nn.Module):
    def __init__(self, shape):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(*shape))


def kept(modules):
    return [int(m.weight_mask.sum().item()) if hasattr(m, "weight_mask") else m.weight.numel()
            for m in modules]


def torch_levels(case):
    modules = [Holder(shape) for shape in case["shapes"]]
    out = []
    for _ in range(case["levels"]):
        if case["scope"] == "global":
            prune.global_unstructured([(m, "weight") for m in modules],
                                      pruning_method=prune.L1Unstructured, amount=case["rate"])
        else:
            for m in modules:
                prune.l1_unstructured(m, "weight", amount=case["rate"])
        out.append(kept(modules))
    return out


def torch_random(case):
    modules = [Holder(shape) for shape in case["shapes"]]
    for m in modules:
        prune.random_unstructured(m, "weight", amount=case["amount"])
    return kept(modules)


def rigl_erk(case):
    shapes, target = case["shapes"], case["sparsity"]
    dense = set(case["dense"])
    while True:
        rhs, divisor, raw = 0.0, 0.0, {}
        for i, shape in enumerate(shapes):
            n = math.prod(shape)
            if i in dense:
                rhs -= n * target
            else:
                rhs += n * (1 - target)
                raw[i] = sum(shape) / n
                divisor += raw[i] * n
        eps = rhs / divisor
        highest = max(raw.values())
        if highest * eps > 1:
            dense |= {i for i, r in raw.items() if r == highest}
        else:
            break
    counts = []
    for i, shape in enumerate(shapes):
        n = math.prod(shape)
        counts.append(n if i in dense else n - math.floor((1 - eps * raw[i]) * n))
    return counts


RUN = {"torch-levels": torch_levels, "torch-random": torch_random, "rigl-erk": rigl_erk}

if __name__ == "__main__":
    torch.manual_seed(0)
    cases = json.load(sys.stdin)["cases"]
    json.dump([RUN[case["kind"]](case) for case in cases], sys.stdout)
