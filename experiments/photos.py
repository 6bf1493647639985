#!/usr/bin/env python3
"""Phone-photo-like pictures of handwritten digits and numbers, made here, and how well a model
reads them.

Every picture is generated from a seed: a digit or a number of 3–6 digits, drawn as pen strokes
(the stroke table of experiments/handwriting.py, jittered and slanted) or typeset in a
handwriting-like font, in blue, black, red or green ink, in pencil, or in chalk on a dark board;
on plain, ruled (with a red margin line) or squared paper, white or tinted; lit unevenly (a
gradient and a lamp's spot), rotated a little, seen in perspective (sometimes with the page's
edge and the desk in view), blurred, noisy and saved as JPEG.

    experiments/photos.py MODEL.safetensors [--singles 300] [--numbers 100] [--out DIR]
        [--mnistlab PATH] [--previous PATH] [--mnist DIR]

prints the accuracy per kind of picture: single digits through the default preprocessing, through
--raw, and through `--previous` (another mnistlab binary, e.g. one built before this
preprocessing); whole numbers through `predict --number`; and, with --mnist (a folder holding
t10k-images-idx3-ubyte.gz), how many of 1,000 MNIST test images keep their --raw prediction
through the default preprocessing.

    experiments/photos.py --generate-only --out DIR [--singles N] [--numbers N]

only writes the pictures (the tests use this). Needs Pillow and numpy, and the fonts of Debian's
fonts-comic-neue, fonts-humor-sans, fonts-dkg-handwriting and fonts-femkeklaver.
"""
import argparse
import gzip
import json
import math
import pathlib
import random
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from handwriting import STROKES  # noqa: E402  (the pen strokes of each digit)

FONTS = [
    "/usr/share/fonts/opentype/comic-neue/ComicNeue-Regular.otf",
    "/usr/share/fonts/opentype/comic-neue/ComicNeue-Bold.otf",
    "/usr/share/fonts/truetype/humor-sans/Humor-Sans.ttf",
    "/usr/share/fonts/truetype/fifthhorseman/dkg.ttf",
    "/usr/share/fonts/truetype/fifthhorseman/dkgBd.ttf",
    "/usr/share/fonts/truetype/femkeklaver/femkeklaver.ttf",
]
INKS = {
    "blue": (25, 45, 150),
    "black": (20, 20, 25),
    "red": (170, 25, 30),
    "green": (20, 100, 45),
    "pencil": (95, 95, 100),
}
PAPERS = {
    "white": (245, 245, 240),
    "cream": (245, 235, 200),
    "blue": (215, 230, 245),
    "green": (215, 240, 215),
}
BOARD = (35, 60, 45)
CHALK = (230, 230, 220)


def digit_mask(digit, size, source, rng, slant, font):
    """A grey mask (0–255) of one digit about `size` pixels tall, drawn or typeset."""
    pad = size
    img = Image.new("L", (2 * size + 2 * pad, 2 * size + 2 * pad), 0)
    draw = ImageDraw.Draw(img)
    if source == "pen":
        bh = size
        bw = bh * rng.uniform(0.55, 0.75)
        width = max(2, int(bh * rng.uniform(0.06, 0.11)))
        for stroke in STROKES[digit]:
            pts = [
                (pad + bw * (px + slant * (1 - py)) + rng.uniform(-0.03, 0.03) * bw,
                 pad + bh * py + rng.uniform(-0.03, 0.03) * bh)
                for px, py in stroke
            ]
            draw.line(pts, fill=255, width=width, joint="curve")
            for p in (pts[0], pts[-1]):
                draw.ellipse([p[0] - width / 2, p[1] - width / 2, p[0] + width / 2, p[1] + width / 2], fill=255)
    else:
        f = ImageFont.truetype(font, int(size * 1.35))
        left, top, right, bottom = draw.textbbox((0, 0), str(digit), font=f)
        draw.text((pad - left, pad - top), str(digit), fill=255, font=f)
        if slant:
            img = img.transform(img.size, Image.AFFINE, (1, slant * 0.6, -slant * 0.6 * pad * 1.5, 0, 1, 0), Image.BICUBIC)
    box = img.getbbox()
    return img.crop(box) if box else img


def paper_sheet(w, h, rng, kind, board):
    """The page: colour, ruling (ruled with a margin, squared or plain); returns (RGB array, spacing)."""
    colour = BOARD if board else PAPERS[rng.choice(list(PAPERS))]
    page = np.ones((h, w, 3), np.float32) * np.array(colour, np.float32)
    spacing = rng.randint(28, 44) * max(w, h) / 1000
    draw_lines = []
    if kind == "ruled":
        line = (150, 175, 225) if rng.random() < 0.7 else (170, 170, 175)
        y = rng.uniform(0, spacing)
        while y < h:
            draw_lines.append(((0, y, w, y), line, rng.choice([1, 2])))
            y += spacing
        if rng.random() < 0.7:
            x = rng.uniform(0.06, 0.15) * w
            draw_lines.append(((x, 0, x, h), (215, 90, 95), 2))
    elif kind == "squared":
        line = (165, 185, 215)
        step = spacing / 2
        for axis in (0, 1):
            v = rng.uniform(0, step)
            while v < (w if axis == 0 else h):
                draw_lines.append((((v, 0, v, h) if axis == 0 else (0, v, w, v)), line, 1))
                v += step
    img = Image.fromarray(page.astype(np.uint8))
    d = ImageDraw.Draw(img)
    for xy, colour, width in draw_lines:
        d.line(xy, fill=colour, width=width)
    return np.asarray(img, np.float32), spacing


def photo(digits, rng, singles):
    """One picture of `digits` (a list of ints); returns (PIL RGB image, kind dict)."""
    source = rng.choice(["pen", "font"])
    font = rng.choice(FONTS)
    board = rng.random() < 0.08
    paper = "board" if board else rng.choice(["plain", "ruled", "squared"])
    ink_name = "chalk" if board else rng.choice(list(INKS))
    ink = np.array(CHALK if board else INKS[ink_name], np.float32)
    w, h = (rng.randint(500, 900), rng.randint(420, 700)) if singles else (rng.randint(900, 1400), rng.randint(450, 750))
    page, spacing = paper_sheet(w, h, rng, "plain" if board else paper, board)
    size = int(rng.uniform(0.35, 0.6) * h) if singles else int(min(rng.uniform(0.22, 0.4) * h, 0.8 * w / (len(digits) * 0.8 + 0.5)))
    slant = rng.uniform(-0.1, 0.25)
    masks = [digit_mask(d, size, source, rng, slant, font) for d in digits]
    gaps = [int(size * rng.uniform(0.12, 0.45)) for _ in masks]
    total = sum(m.width for m in masks) + sum(gaps[:-1])
    x = rng.randint(int(0.1 * w), max(int(0.1 * w) + 1, w - total - int(0.1 * w)))
    base = rng.randint(int(0.15 * h) + size, max(int(0.15 * h) + size + 1, int(0.85 * h)))
    cover = np.zeros((h, w), np.float32)
    for m, gap in zip(masks, gaps):
        top = base - m.height + rng.randint(-size // 12, size // 12)
        arr = np.asarray(m, np.float32) / 255
        y0, x0 = max(top, 0), max(x, 0)
        y1, x1 = min(top + m.height, h), min(x + m.width, w)
        cover[y0:y1, x0:x1] = np.maximum(cover[y0:y1, x0:x1], arr[y0 - top:y1 - top, x0 - x:x1 - x])
        x += m.width + gap
    if ink_name == "pencil":  # grainy and lighter
        cover *= np.clip(np.random.default_rng(rng.randint(0, 2**31)).normal(0.75, 0.15, cover.shape), 0, 1)
    strength = rng.uniform(0.8, 1.0)
    img = page * (1 - strength * cover[..., None]) + ink * (strength * cover[..., None])
    # Uneven light: a gradient across the page and a lamp's spot.
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = rng.uniform(0, 2 * math.pi)
    grad = ((xx / w - 0.5) * math.cos(angle) + (yy / h - 0.5) * math.sin(angle))
    cx, cy = rng.uniform(0, w), rng.uniform(0, h)
    spot = np.exp(-(((xx - cx) / w) ** 2 + ((yy - cy) / h) ** 2) / rng.uniform(0.2, 0.6))
    light = 1 - rng.uniform(0.15, 0.45) * (grad + 0.5) + rng.uniform(0.0, 0.2) * spot
    img = np.clip(img * light[..., None], 0, 255).astype(np.uint8)
    pic = Image.fromarray(img)
    # Rotation and perspective: the page's corners land a little off the frame's; sometimes the
    # page is smaller than the frame and the desk shows.
    margin = rng.uniform(-0.05, 0.02) if rng.random() < 0.25 else rng.uniform(0.0, 0.04)
    rot = math.radians(rng.uniform(-5, 5))
    corners = []
    for (px, py) in [(0, 0), (w, 0), (w, h), (0, h)]:
        qx = (px - w / 2) * math.cos(rot) - (py - h / 2) * math.sin(rot) + w / 2
        qy = (px - w / 2) * math.sin(rot) + (py - h / 2) * math.cos(rot) + h / 2
        corners.append((qx + (rng.uniform(-0.03, 0.03) - margin * (1 if px == 0 else -1)) * w,
                        qy + (rng.uniform(-0.03, 0.03) - margin * (1 if py == 0 else -1)) * h))
    coeffs = perspective_coeffs(corners, [(0, 0), (w, 0), (w, h), (0, h)])
    desk = tuple(rng.randint(40, 110) for _ in range(3))
    pic = pic.transform((w, h), Image.PERSPECTIVE, coeffs, Image.BICUBIC, fillcolor=desk)
    pic = pic.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.3)))
    noise = np.random.default_rng(rng.randint(0, 2**31)).normal(0, rng.uniform(2, 7), (h, w, 3))
    pic = Image.fromarray(np.clip(np.asarray(pic, np.float32) + noise, 0, 255).astype(np.uint8))
    return pic, {"source": source, "paper": paper, "ink": ink_name}


def perspective_coeffs(src, dst):
    """PIL's PERSPECTIVE coefficients mapping output points `dst` to input points `src`."""
    rows, rhs = [], []
    for (x, y), (u, v) in zip(dst, src):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        rhs += [u, v]
    return np.linalg.solve(np.array(rows, np.float64), np.array(rhs, np.float64)).tolist()


def generate(out, singles, numbers, seed):
    """Writes the pictures; returns {file name: (label string, kind dict)}."""
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    labels = {}
    for i in range(singles):
        d = i % 10
        pic, kind = photo([d], rng, True)
        name = f"s{i:04d}-{d}.jpg"
        pic.save(out / name, quality=rng.randint(60, 92))
        labels[name] = (str(d), kind)
    for i in range(numbers):
        n = [rng.randint(0, 9) for _ in range(rng.randint(3, 6))]
        pic, kind = photo(n, rng, False)
        text = "".join(map(str, n))
        name = f"n{i:04d}-{text}.jpg"
        pic.save(out / name, quality=rng.randint(60, 92))
        labels[name] = (text, kind)
    (out / "labels.json").write_text(json.dumps(labels, indent=0))
    return labels


def predict(mnistlab, model, files, extra):
    """{file name: (answer or None, error)} from `mnistlab predict --json` one file at a time
    when a refusal must not stop the others."""
    answers = {}
    for f in files:
        r = subprocess.run([mnistlab, "predict", "--json", *extra, model, str(f)], capture_output=True, text=True)
        if r.returncode == 0:
            row = json.loads(r.stdout.splitlines()[0])
            answers[f.name] = (row.get("number", row.get("name")), None)
        else:
            answers[f.name] = (None, r.stderr.strip())
    return answers


def table(title, labels, answers):
    """Prints accuracy overall and by kind."""
    by = {}
    for name, (label, kind) in labels.items():
        if name not in answers:
            continue
        right = answers[name][0] == label
        for key in ["all", f"source={kind['source']}", f"paper={kind['paper']}", f"ink={kind['ink']}"]:
            c, t = by.get(key, (0, 0))
            by[key] = (c + right, t + 1)
    print(f"{title}:")
    for key in sorted(by, key=lambda k: (k != "all", k)):
        c, t = by[key]
        print(f"  {key:16} {c:4}/{t:<4} {100 * c / t:5.1f}%")
    return by["all"]


def mnist_kept(mnistlab, model, folder, n=1000):
    """How many of the first n MNIST test images keep their --raw class through the default
    preprocessing."""
    raw = gzip.open(pathlib.Path(folder) / "t10k-images-idx3-ubyte.gz").read()
    images = np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 28, 28)[:n]
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="mnist-"))
    for i, a in enumerate(images):
        Image.fromarray(a).save(tmp / f"m{i:04d}.png")

    def classes(extra):
        out = subprocess.run([mnistlab, "predict", "--json", *extra, model, str(tmp)], check=True, capture_output=True, text=True).stdout
        return [json.loads(line)["class"] for line in out.splitlines()]

    a, b = classes([]), classes(["--raw"])
    return sum(x == y for x, y in zip(a, b))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", nargs="?")
    ap.add_argument("--out", help="folder for the pictures (default: a temporary one)")
    ap.add_argument("--singles", type=int, default=300)
    ap.add_argument("--numbers", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--mnistlab", default="target/release/mnistlab")
    ap.add_argument("--previous", help="another mnistlab binary to compare single digits with")
    ap.add_argument("--mnist", help="folder holding t10k-images-idx3-ubyte.gz")
    ap.add_argument("--generate-only", action="store_true")
    args = ap.parse_args()
    missing = [f for f in FONTS if not pathlib.Path(f).is_file()]
    if missing:
        sys.exit(f"missing fonts: {missing}")
    folder = pathlib.Path(args.out or tempfile.mkdtemp(prefix="photos-"))
    labels = generate(folder, args.singles, args.numbers, args.seed)
    if args.generate_only:
        print(json.dumps({"folder": str(folder), "labels": {k: v[0] for k, v in labels.items()}}))
        return
    if not args.model:
        sys.exit("a model is needed unless --generate-only")
    singles = {k: v for k, v in labels.items() if k.startswith("s")}
    numbers = {k: v for k, v in labels.items() if k.startswith("n")}
    files = lambda names: [folder / n for n in sorted(names)]  # noqa: E731
    print(f"{len(singles)} single digits and {len(numbers)} numbers in {folder}")
    table("single digits, default preprocessing", singles, predict(args.mnistlab, args.model, files(singles), []))
    table("single digits, --raw", singles, predict(args.mnistlab, args.model, files(singles), ["--raw"]))
    if args.previous:
        table("single digits, previous preprocessing", singles, predict(args.previous, args.model, files(singles), []))
    answers = predict(args.mnistlab, args.model, files(numbers), ["--number"])
    table("whole numbers, --number", numbers, answers)
    refused = [(n, e) for n, (a, e) in answers.items() if e]
    print(f"  refused: {len(refused)}" + "".join(f"\n    {n}: {e}" for n, e in refused[:5]))
    if args.mnist:
        print(f"MNIST test images keeping their --raw class: {mnist_kept(args.mnistlab, args.model, args.mnist)}/1000")


if __name__ == "__main__":
    main()
