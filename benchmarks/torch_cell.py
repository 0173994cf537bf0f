"""One sweep cell in PyTorch, for `npm run bench:sweep`: the mini preset's dense cyclic cell.

    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 benchmarks/torch_cell.py <mnist-dir> <seed> [cycles] [epochs-per-cycle]

LeNet-300-100 on MNIST, 500 training and 200 test images per class (the first ones of each
class; cyclesparse draws a seeded subset, which costs the same), batch 128, SGD with momentum
0.9, weight decay 5e-4, peak learning rate 0.05 restarted every cycle with a linear warm-up over
the first 10% of it and steps down ×0.1 at 50% and 75%, test accuracy after every epoch — the
work cyclesparse's cell does. One thread: a sweep runs one cell per core. Prints one JSON line.
"""

import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn


def idx(path):
    with open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def per_class(images, labels, count):
    picks = np.concatenate([np.flatnonzero(labels == c)[:count] for c in range(10)])
    return torch.from_numpy(images[picks].astype(np.float32) / 255.0), torch.from_numpy(labels[picks].astype(np.int64))


def main():
    started = time.perf_counter()
    directory, seed = sys.argv[1], int(sys.argv[2])
    cycles = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    epochs_per_cycle = int(sys.argv[4]) if len(sys.argv) > 4 else 4
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    x, y = per_class(idx(os.path.join(directory, "train-images-idx3-ubyte")),
                     idx(os.path.join(directory, "train-labels-idx1-ubyte")), 500)
    tx, ty = per_class(idx(os.path.join(directory, "t10k-images-idx3-ubyte")),
                       idx(os.path.join(directory, "t10k-labels-idx1-ubyte")), 200)
    x, tx = (x - 0.1307) / 0.3081, (tx - 0.1307) / 0.3081
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 300), nn.ReLU(), nn.Linear(300, 100), nn.ReLU(), nn.Linear(100, 10))
    loss_fn = nn.CrossEntropyLoss()
    steps_per_epoch = -(-len(x) // 128)
    accuracy = 0.0
    for cycle in range(cycles):
        optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
        total = epochs_per_cycle * steps_per_epoch
        for epoch in range(epochs_per_cycle):
            order = torch.randperm(len(x))
            model.train()
            for step in range(steps_per_epoch):
                at = (epoch * steps_per_epoch + step) / total
                lr = 0.05 * (min(1.0, at / 0.1) if at < 0.1 else 1.0 if at < 0.5 else 0.1 if at < 0.75 else 0.01)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                batch = order[step * 128:(step + 1) * 128]
                optimizer.zero_grad(set_to_none=True)
                loss_fn(model(x[batch]), y[batch]).backward()
                optimizer.step()
            model.eval()
            with torch.no_grad():
                accuracy = (model(tx).argmax(1) == ty).float().mean().item()
    print(json.dumps({"seed": seed, "testAccuracy": accuracy, "seconds": time.perf_counter() - started}))


if __name__ == "__main__":
    main()
