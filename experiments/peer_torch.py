"""PyTorch side of experiments/compare: the four models trained as mnistlab trains them.
CNNs run in channels_last (PyTorch's fastest layout for them on CPU)."""

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


def main():
    args = common.parse_args("PyTorch")
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

    def train_pass(images):
        model.train()
        order = torch.randperm(len(x))[:images]
        for start in range(0, images, bs):
            idx = order[start:start + bs]
            optimizer.zero_grad(set_to_none=True)
            loss_fn(model(x[idx].contiguous(memory_format=fmt)), y[idx]).backward()
            optimizer.step()

    def accuracy(images, labels):
        model.eval()
        correct = 0
        with torch.inference_mode():
            for start in range(0, len(images), bs):
                correct += (model(images[start:start + bs]).argmax(1) == labels[start:start + bs]).sum().item()
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
                model(b)

    inference = args.inference_batches * bs / common.timed(infer)
    common.report("PyTorch", args, seconds, val_accuracy, inference)


if __name__ == "__main__":
    main()
