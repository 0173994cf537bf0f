"""The same training step in PyTorch, for the side-by-side ratio in `npm run bench -- --torch`.

    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 benchmarks/torch_step.py <model> <batch> <steps> <threads> [sparsity] [warmup]

Prints one JSON line with the median, min and max step time and the process's peak RSS. Models mirror src/models/zoo.ts (same layers,
padding and shortcuts); the step mirrors cyclesparse's: forward in train mode, cross-entropy,
backward, gradients multiplied by a random mask (90% sparse by default), SGD with momentum 0.9 and weight decay 5e-4.
Debian's python3-torch needs libopenblas0-pthread and OPENBLAS_NUM_THREADS=1, or it runs on the
reference BLAS (research/feasibility.md section 3.1).
"""

import json
import resource
import statistics
import sys
import time

import torch
import torch.nn as nn


def conv_bn(cin, cout, stride=1, kernel=3, padding=1):
    return [nn.Conv2d(cin, cout, kernel, stride, padding, bias=False), nn.BatchNorm2d(cout)]


class Basic(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.body = nn.Sequential(*conv_bn(cin, cout, stride), nn.ReLU(), *conv_bn(cout, cout))
        projection = stride != 1 or cin != cout
        self.shortcut = nn.Sequential(*conv_bn(cin, cout, stride, 1, 0)) if projection else nn.Identity()

    def forward(self, x):
        return torch.relu(self.body(x) + self.shortcut(x))


def cifar_resnet(depth, classes=10):
    blocks = (depth - 2) // 6
    layers, cin = [*conv_bn(3, 16), nn.ReLU()], 16
    for stage, width in enumerate([16, 32, 64]):
        for block in range(blocks):
            layers.append(Basic(cin, width, 2 if stage > 0 and block == 0 else 1))
            cin = width
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, classes))


def conv_net(plan, channels, size, classes=10):
    layers, cin = [], channels
    for step in plan:
        if step == "M":
            layers.append(nn.MaxPool2d(2))
            size //= 2
        else:
            layers += [nn.Conv2d(cin, step, 3, 1, 1), nn.ReLU()]
            cin = step
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(cin * size * size, 256), nn.ReLU(),
                         nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, classes))


MODELS = {
    "lenet-300-100": ((1, 28, 28), lambda: nn.Sequential(
        nn.Flatten(), nn.Linear(784, 300), nn.ReLU(), nn.Linear(300, 100), nn.ReLU(), nn.Linear(100, 10))),
    "lenet-5": ((1, 28, 28), lambda: nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))),
    "conv-2": ((3, 32, 32), lambda: conv_net([64, 64, "M"], 3, 32)),
    "conv-4": ((3, 32, 32), lambda: conv_net([64, 64, "M", 128, 128, "M"], 3, 32)),
    "resnet-20": ((3, 32, 32), lambda: cifar_resnet(20)),
    "resnet-56": ((3, 32, 32), lambda: cifar_resnet(56)),
}


def main():
    name, batch, steps, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    sparsity = float(sys.argv[5]) if len(sys.argv) > 5 else 0.9
    warmup = int(sys.argv[6]) if len(sys.argv) > 6 else 2
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    shape, build = MODELS[name]
    model = build().train()
    masks = {p: (torch.rand_like(p) < 1 - sparsity).float() for n, p in model.named_parameters() if n.endswith("weight") and p.dim() > 1}
    for p, m in masks.items():
        p.data.mul_(m)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(batch, *shape)
    y = torch.randint(0, 10, (batch,))
    loss_fn = nn.CrossEntropyLoss()
    times = []
    for step in range(steps + warmup):
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        for p, m in masks.items():
            p.grad.mul_(m)
        optimizer.step()
        if step >= warmup:
            times.append((time.perf_counter() - start) * 1000)
    print(json.dumps({"model": name, "batch": batch, "threads": threads, "torch": torch.__version__,
                      "sparsity": sparsity, "steps": len(times), "medianMs": statistics.median(times),
                      "minMs": min(times), "maxMs": max(times), "samplesMs": times,
                      "peakRssMb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


if __name__ == "__main__":
    main()
