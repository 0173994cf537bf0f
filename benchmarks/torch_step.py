"""The same training step in PyTorch, for the side-by-side ratios of `npm run bench:peer` (CPU)
and `npm run bench:gpu` (any device): raw PyTorch, the reference the engines are measured against.

    OPENBLAS_NUM_THREADS=1 python3 benchmarks/torch_step.py <model> <batch> <steps> <threads> [sparsity] [warmup]
        [--device cpu|cuda|cuda:N] [--tf32] [--epoch IMAGES]

Prints one JSON line with the median, min and max step time and the process's peak RSS. Models
mirror src/models/zoo.ts (same layers, padding and shortcuts); the step mirrors cyclesparse's:
forward in train mode, cross-entropy, backward, gradients multiplied by a random mask (90% sparse
by default), SGD with momentum 0.9 and weight decay 5e-4. On a GPU every sample is a block of 10
steps ended by a synchronisation, divided by 10 (timing single asynchronous steps measures only
the host). TF32 is off unless --tf32, as in the engine's default fp32.

`--epoch IMAGES`: one whole epoch instead, the way a training script runs it: IMAGES synthetic
uint8 images on the device, a fresh permutation, each batch gathered, randomly cropped (4-pixel
zero padding) and flipped on the device for 3-channel models, normalised, trained. Prints the
epoch's seconds and images per second.

Debian's python3-torch needs libopenblas0-pthread and OPENBLAS_NUM_THREADS=1, or it runs on the
reference BLAS (research/feasibility.md section 3.1).
"""

import argparse
import json
import resource
import statistics
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


def parse():
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("batch", type=int)
    parser.add_argument("steps", type=int)
    parser.add_argument("threads", type=int)
    parser.add_argument("sparsity", type=float, nargs="?", default=0.9)
    parser.add_argument("warmup", type=int, nargs="?", default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--tf32", action="store_true")
    parser.add_argument("--epoch", type=int, default=0)
    return parser.parse_args()


def augment(images, idx, pad=4):
    """Random crop with zero padding and horizontal flip of uint8 NHWC images, on their device."""
    x = images[idx]
    n, h, w, _ = x.shape
    padded = torch.nn.functional.pad(x.permute(0, 3, 1, 2), (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (n,), device=x.device)
    dx = torch.randint(0, 2 * pad + 1, (n,), device=x.device)
    rows = (torch.arange(h, device=x.device)[None, :] + dy[:, None])[:, None, :, None]
    cols = (torch.arange(w, device=x.device)[None, :] + dx[:, None])
    flip = torch.rand(n, device=x.device) < 0.5
    cols = torch.where(flip[:, None], cols.flip(1), cols)[:, None, None, :]
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    channel = torch.arange(padded.shape[1], device=x.device)[None, :, None, None]
    return padded[batch, channel, rows, cols]


def main():
    args = parse()
    name, batch, steps, threads = args.model, args.batch, args.steps, args.threads
    sparsity, warmup = args.sparsity, args.warmup
    device = torch.device(args.device)
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = args.tf32
        torch.backends.cudnn.allow_tf32 = args.tf32
    shape, build = MODELS[name]
    model = build().to(device).train()
    masks = {p: (torch.rand_like(p) < 1 - sparsity).float() for n, p in model.named_parameters() if n.endswith("weight") and p.dim() > 1}
    for p, m in masks.items():
        p.data.mul_(m)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    loss_fn = nn.CrossEntropyLoss()

    def step(x, y):
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        for p, m in masks.items():
            p.grad.mul_(m)
        optimizer.step()
        return loss

    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    info = {"model": name, "batch": batch, "threads": threads, "torch": torch.__version__, "device": str(device),
            "deviceName": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu", "sparsity": sparsity}
    if args.epoch > 0:
        c, h, w = shape
        images = torch.randint(0, 256, (args.epoch, h, w, c), dtype=torch.uint8, device=device)
        labels = torch.randint(0, 10, (args.epoch,), device=device)
        mean = torch.full((1, c, 1, 1), 0.5, device=device)
        std = torch.full((1, c, 1, 1), 0.25, device=device)
        for warm in range(warmup):
            idx = torch.randint(0, args.epoch, (batch,), device=device)
            step((images[idx].permute(0, 3, 1, 2).float() / 255 - mean) / std, labels[idx])
        sync()
        start = time.perf_counter()
        order = torch.randperm(args.epoch, device=device)
        for first in range(0, args.epoch, batch):
            idx = order[first:first + batch]
            x = augment(images, idx) if c == 3 else images[idx].permute(0, 3, 1, 2)
            step((x.float() / 255 - mean) / std, labels[idx])
        sync()
        seconds = time.perf_counter() - start
        print(json.dumps({**info, "epochImages": args.epoch, "epochSeconds": seconds,
                          "imagesPerSecond": args.epoch / seconds,
                          "peakRssMb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
        return
    x = torch.randn(batch, *shape, device=device)
    y = torch.randint(0, 10, (batch,), device=device)
    block = 10 if device.type == "cuda" else 1
    for _ in range(warmup):
        step(x, y)
    sync()
    times = []
    for _ in range(max(1, steps // block)):
        start = time.perf_counter()
        for _ in range(block):
            step(x, y)
        sync()
        times.append((time.perf_counter() - start) * 1000 / block)
    print(json.dumps({**info, "steps": len(times) * block, "stepsPerSample": block,
                      "medianMs": statistics.median(times), "minMs": min(times), "maxMs": max(times), "samplesMs": times,
                      "peakRssMb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


if __name__ == "__main__":
    main()
