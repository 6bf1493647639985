"""PyTorch side of experiments/compare: the four models trained as mnistlab trains them, and
the speedrun recipe (--speedrun). CNNs run in channels_last (PyTorch's fastest layout for them on
CPU). With --compile the model goes through torch.compile (inductor: generated C++/OpenMP for
forward and backward); every batch shape the run meets is compiled before the timed epochs, and
that time is reported apart as compile_seconds."""

import copy
import json
import re
import time

import numpy as np
import torch
from torch import nn

import peer_common as common


def same_conv(c_in, c_out, k):
    return nn.Conv2d(c_in, c_out, k, padding=k // 2)


def build(name):
    if name == "linear":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    if name == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(),
                             nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))
    if name == "cnn":
        return nn.Sequential(
            same_conv(1, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
            same_conv(16, 32, 5), nn.ReLU(), nn.MaxPool2d(2),
            same_conv(32, 64, 5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * 3 * 3, 128), nn.ReLU(),
            nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10))
    layers, c_in = [], 1
    for i, c in enumerate((16, 16, 32, 32, 64, 64)):
        layers += [same_conv(c_in, c, 3), nn.BatchNorm2d(c, eps=1e-3, momentum=0.01), nn.ReLU()]
        if i in (1, 3):
            layers.append(nn.MaxPool2d(2))
        c_in = c
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))


def from_notation(arch):
    """The network of an mnistlab notation (C with "same" or `v` "valid" padding, BN, ReLU, MP,
    D tokens) with mnistlab's initialization: Glorot-uniform kernels, zero biases."""
    layers, c, side, features = [], 1, 28, None
    for token in arch.split("-"):
        if m := re.fullmatch(r"(\d+)C(\d+)(v?)", token):
            filters, k = int(m.group(1)), int(m.group(2))
            if m.group(3):
                layers.append(nn.Conv2d(c, filters, k))
                side -= k - 1
            else:
                layers.append(same_conv(c, filters, k))
            c = filters
        elif token == "BN":
            layers.append(nn.BatchNorm2d(c, eps=1e-3, momentum=0.01) if features is None
                          else nn.BatchNorm1d(features, eps=1e-3, momentum=0.01))
        elif token == "ReLU":
            layers.append(nn.ReLU())
        elif m := re.fullmatch(r"MP(\d+)", token):
            layers.append(nn.MaxPool2d(int(m.group(1))))
            side //= int(m.group(1))
        elif m := re.fullmatch(r"D(\d+)", token):
            if features is None:
                layers.append(nn.Flatten())
                features = c * side * side
            layers.append(nn.Linear(features, int(m.group(1))))
            features = int(m.group(1))
        else:
            raise SystemExit(f"error: token {token!r} is not in the speedrun subset")
    model = nn.Sequential(*layers)
    for layer in model:
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)
    return model


def speedrun(args):
    """Trains the recipe like `mnistlab train --arch A --epochs E --batch-size B --lr L --schedule
    onecycle`: Adam, OneCycleLR without momentum cycling, the model kept by lowest validation loss
    tested on the 10,000 test images. Prints one JSON line."""
    start = time.perf_counter()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    x, y, x_val, y_val, x_test, y_test = common.load_mnist(args.data_dir)
    fmt = torch.channels_last
    as_tensor = lambda a: torch.from_numpy(np.ascontiguousarray(a.transpose(0, 3, 1, 2))).contiguous(memory_format=fmt)  # noqa: E731
    x, x_val, x_test = as_tensor(x), as_tensor(x_val), as_tensor(x_test)
    y, y_val, y_test = torch.from_numpy(y), torch.from_numpy(y_val), torch.from_numpy(y_test)
    model = from_notation(args.arch).to(memory_format=fmt)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr, eps=1e-7)
    steps = -(-len(x) // args.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=args.lr, total_steps=args.epochs * steps, pct_start=0.3,
        anneal_strategy="cos", cycle_momentum=False, div_factor=25.0, final_div_factor=1e4)
    loss_fn = nn.CrossEntropyLoss()

    def evaluate(images, labels):
        model.eval()
        loss, correct = 0.0, 0
        with torch.inference_mode():
            for i in range(0, len(images), 256):
                out = model(images[i:i + 256])
                loss += nn.functional.cross_entropy(out, labels[i:i + 256], reduction="sum").item()
                correct += (out.argmax(1) == labels[i:i + 256]).sum().item()
        return loss / len(images), correct / len(images)

    best, best_state = float("inf"), None
    for _ in range(args.epochs):
        model.train()
        order = torch.randperm(len(x))
        for i in range(0, len(x), args.batch_size):
            idx = order[i:i + args.batch_size]
            optimizer.zero_grad(set_to_none=True)
            loss_fn(model(x[idx].contiguous(memory_format=fmt)), y[idx]).backward()
            optimizer.step()
            schedule.step()
        val_loss, _ = evaluate(x_val, y_val)
        if val_loss < best:
            best = val_loss
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    _, test_accuracy = evaluate(x_test, y_test)
    print(json.dumps({"framework": "PyTorch", "seed": args.seed, "test_accuracy": test_accuracy,
                      "seconds_after_import": time.perf_counter() - start}), flush=True)


def main():
    args = common.parse_args("PyTorch")
    if args.speedrun:
        return speedrun(args)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x, y, x_val, y_val, x_test, _ = common.load_mnist(args.data_dir)
    cnn = args.model.startswith("cnn")
    fmt = torch.channels_last if cnn else torch.contiguous_format
    as_tensor = lambda a: torch.from_numpy(np.ascontiguousarray(a.transpose(0, 3, 1, 2))).contiguous(memory_format=fmt)  # noqa: E731
    x, x_val, x_test = as_tensor(x), as_tensor(x_val), as_tensor(x_test)
    y, y_val = torch.from_numpy(y), torch.from_numpy(y_val)
    model = build(args.model).to(memory_format=fmt)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = nn.CrossEntropyLoss()
    bs = args.batch_size
    run = model
    extra = {}
    if args.compile:
        run = torch.compile(model)
        extra["compile_seconds"] = compile_shapes(run, model, loss_fn, x, y, bs,
                                                  [len(x) % bs, len(x_val) % bs, 1])

    def train_pass(images):
        model.train()
        order = torch.randperm(len(x))[:images]
        for start in range(0, images, bs):
            idx = order[start:start + bs]
            optimizer.zero_grad(set_to_none=True)
            loss_fn(run(x[idx].contiguous(memory_format=fmt)), y[idx]).backward()
            optimizer.step()

    def accuracy(images, labels):
        model.eval()
        correct = 0
        with torch.inference_mode():
            for start in range(0, len(images), bs):
                correct += (run(images[start:start + bs]).argmax(1) == labels[start:start + bs]).sum().item()
        return correct / len(images)

    seconds, val_accuracy = [], []
    passes = args.passes if args.steps else args.epochs
    for _ in range(passes):
        start = time.perf_counter()
        train_pass(args.steps * bs if args.steps else len(x))
        if not args.steps:
            val_accuracy.append(accuracy(x_val, y_val))
        seconds.append(time.perf_counter() - start)

    model.eval()
    batches = [x_test[i * bs:(i + 1) * bs] for i in range(args.inference_batches)]

    def infer():
        with torch.inference_mode():
            for b in batches:
                run(b)

    singles = [x_test[i:i + 1] for i in range(args.single_images)]

    def infer_singles():
        with torch.inference_mode():
            for image in singles:
                run(image)

    inference = args.inference_batches * bs / common.timed(infer)
    single = args.single_images / common.timed(infer_singles)
    common.report("PyTorch compiled" if args.compile else "PyTorch", args, seconds, val_accuracy,
                  inference, single, **extra)


def compile_shapes(run, model, loss_fn, x, y, bs, last_batches):
    """Compiles `run` (torch.compile of `model`) for training and inference at batch `bs` and at
    the epochs' last, smaller batches; returns the seconds it took. The weights and batch-norm
    statistics are put back afterwards, so the timed run starts where the eager one does."""
    saved = copy.deepcopy(model.state_dict())
    start = time.perf_counter()
    for n in sorted({bs, *(b for b in last_batches if b)}):
        model.train()
        loss_fn(run(x[:n]), y[:n]).backward()
        model.eval()
        with torch.inference_mode():
            run(x[:n])
    model.zero_grad(set_to_none=True)
    model.load_state_dict(saved)
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
