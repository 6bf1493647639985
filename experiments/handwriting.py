#!/usr/bin/env python3
"""Real-world-style digits made here, and how well a model reads them.

Writes N pictures of digits into a folder — digits typeset in several fonts and digits drawn as
pen strokes, dark ink on light paper, at various sizes and off-centre positions in non-square
canvases, some with grey paper and noise — then runs `mnistlab predict --json` on them with
the automatic preprocessing, with --raw, and with --raw --invert, and prints the accuracies.

    experiments/handwriting.py MODEL.safetensors [--out DIR] [--mnistlab PATH]

Needs Pillow and TrueType fonts (Debian: fonts-dejavu-core, fonts-liberation).
"""
import argparse
import json
import pathlib
import random
import subprocess
import sys
import tempfile

from PIL import Image, ImageDraw, ImageFilter, ImageFont

FONT_DIRS = [pathlib.Path("/usr/share/fonts/truetype/dejavu"), pathlib.Path("/usr/share/fonts/truetype/liberation")]
FONTS = [
    "DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf",
    "DejaVuSans-Oblique.ttf", "DejaVuSansCondensed.ttf", "LiberationSans-Regular.ttf",
    "LiberationSerif-Regular.ttf", "LiberationMono-Regular.ttf", "LiberationSansNarrow-Regular.ttf",
]

# Pen strokes of each digit in a unit box (x right, y down), as a person draws them.
STROKES = {
    0: [[(0.5, 0.0), (0.15, 0.2), (0.08, 0.5), (0.18, 0.85), (0.5, 1.0), (0.82, 0.85), (0.92, 0.5), (0.85, 0.18), (0.5, 0.0)]],
    1: [[(0.3, 0.2), (0.55, 0.0), (0.55, 1.0)]],
    2: [[(0.1, 0.25), (0.3, 0.03), (0.65, 0.0), (0.88, 0.2), (0.8, 0.45), (0.1, 1.0), (0.95, 1.0)]],
    3: [[(0.1, 0.1), (0.5, 0.0), (0.85, 0.15), (0.8, 0.38), (0.45, 0.5), (0.85, 0.62), (0.9, 0.85), (0.5, 1.0), (0.08, 0.9)]],
    4: [[(0.65, 0.0), (0.05, 0.68), (0.95, 0.68)], [(0.7, 0.3), (0.7, 1.0)]],
    5: [[(0.85, 0.0), (0.2, 0.0), (0.13, 0.45), (0.5, 0.38), (0.85, 0.55), (0.85, 0.85), (0.5, 1.0), (0.1, 0.9)]],
    6: [[(0.75, 0.0), (0.3, 0.25), (0.12, 0.65), (0.3, 0.97), (0.7, 0.95), (0.85, 0.7), (0.6, 0.5), (0.25, 0.55), (0.14, 0.7)]],
    7: [[(0.05, 0.02), (0.95, 0.02), (0.4, 1.0)]],
    8: [[(0.5, 0.48), (0.2, 0.3), (0.3, 0.03), (0.7, 0.03), (0.8, 0.3), (0.5, 0.48), (0.15, 0.72), (0.35, 1.0), (0.7, 1.0), (0.85, 0.72), (0.5, 0.48)]],
    9: [[(0.85, 0.25), (0.6, 0.02), (0.25, 0.08), (0.15, 0.3), (0.4, 0.48), (0.85, 0.3), (0.85, 0.0), (0.8, 0.55), (0.6, 1.0)]],
}


def canvas(rng):
    w, h = rng.choice([(80, 64), (120, 90), (200, 140), (64, 96), (300, 200), (150, 240)])
    paper = rng.choice([255, 255, 240, 225])
    return Image.new("L", (w, h), paper), paper


def finish(img, rng, paper):
    if paper < 255:  # grey paper with sensor noise, as in a phone photo
        px = img.load()
        for y in range(img.height):
            for x in range(img.width):
                px[x, y] = max(0, min(255, px[x, y] + rng.randint(-6, 6)))
    if rng.random() < 0.5:
        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.0)))
    return img


def typeset(digit, font_path, rng):
    img, paper = canvas(rng)
    size = int(min(img.size) * rng.uniform(0.35, 0.8))
    font = ImageFont.truetype(str(font_path), size)
    draw = ImageDraw.Draw(img)
    left, top, right, bottom = draw.textbbox((0, 0), str(digit), font=font)
    x = rng.randint(0, max(0, img.width - (right - left))) - left
    y = rng.randint(0, max(0, img.height - (bottom - top))) - top
    draw.text((x, y), str(digit), fill=rng.randint(0, 60), font=font)
    return finish(img, rng, paper)


def pen(digit, rng):
    img, paper = canvas(rng)
    bh = min(img.height, img.width * 1.4) * rng.uniform(0.4, 0.85)
    bw = bh * rng.uniform(0.55, 0.8)
    x0 = rng.uniform(0, img.width - bw)
    y0 = rng.uniform(0, img.height - bh)
    slant = rng.uniform(-0.15, 0.25)
    width = max(2, int(bh * rng.uniform(0.07, 0.12)))
    draw = ImageDraw.Draw(img)
    for stroke in STROKES[digit]:
        pts = [
            (x0 + bw * (px + slant * (1 - py)) / (1 + abs(slant)) + rng.uniform(-0.02, 0.02) * bw,
             y0 + bh * py + rng.uniform(-0.02, 0.02) * bh)
            for px, py in stroke
        ]
        draw.line(pts, fill=rng.randint(0, 50), width=width, joint="curve")
        for p in (pts[0], pts[-1]):  # round pen ends
            draw.ellipse([p[0] - width / 2, p[1] - width / 2, p[0] + width / 2, p[1] + width / 2], fill=0)
    return finish(img, rng, paper)


def accuracy(mnistlab, model, folder, extra):
    """(correct, total) per kind of picture ("font", "pen"), from the label in each file name."""
    out = subprocess.run([mnistlab, "predict", "--json", *extra, model, folder], check=True, capture_output=True, text=True).stdout
    scores = {}
    for row in map(json.loads, out.splitlines()):
        name = pathlib.Path(row["image"]).name
        kind = "pen" if "-pen" in name else "font"
        correct, total = scores.get(kind, (0, 0))
        scores[kind] = (correct + (int(name[1]) == row["class"]), total + 1)
    return scores


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--out", help="folder for the pictures (default: a temporary one)")
    ap.add_argument("--mnistlab", default="target/release/mnistlab")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    fonts = [d / f for f in FONTS for d in FONT_DIRS if (d / f).is_file()]
    if len(fonts) < 4:
        sys.exit("needs at least 4 of the fonts listed in this script")
    folder = pathlib.Path(args.out or tempfile.mkdtemp(prefix="handwriting-"))
    folder.mkdir(parents=True, exist_ok=True)
    n = 0
    for digit in range(10):
        for i, font in enumerate(fonts):
            typeset(digit, font, rng).save(folder / f"d{digit}-font{i}.png")
            n += 1
        for i in range(6):
            pen(digit, rng).save(folder / f"d{digit}-pen{i}.png")
            n += 1
    print(f"{n} pictures ({len(fonts)} fonts and 6 pen drawings per digit) in {folder}")
    for label, extra in [("automatic preprocessing", []), ("--raw", ["--raw"]), ("--raw --invert", ["--raw", "--invert"])]:
        scores = accuracy(args.mnistlab, args.model, str(folder), extra)
        correct = sum(c for c, _ in scores.values())
        parts = ", ".join(f"{kind} {c}/{t}" for kind, (c, t) in sorted(scores.items()))
        print(f"{label}: {correct}/{n} = {100 * correct / n:.1f}% ({parts})")

if __name__ == "__main__":
    main()
