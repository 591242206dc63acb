#!/usr/bin/python3
"""
Trains the embedded backbone (version 2) shipped in models/embedded-v2.bin.

What it learns from: ONLY the package's own synthetic generator (`defect-detection synth`)
plus procedural textures and synthetic anomalies made in this script. Never train it on
../shared or any third-party data set: their licences forbid shipping derived weights.

Why this objective: PatchCore/PaDiM compare intermediate features of good and inspected
patches, so the features must (a) describe local texture richly enough to tell any local
irregularity from the surface around it and (b) ignore what varies on good parts (lighting,
contrast, colour, scale, orientation). The network is trained to segment synthetic defects
and random pasted anomalies (cut-paste, blobs, strokes, texture swaps) on heavily
photometrically augmented surfaces, plus a light surface-kind classification; its stage
outputs (strides 4, 8, 16) then serve as patch features. No pretrained weights are used.

Rerun (CPU only; Debian's PyTorch 1.13, numpy, PIL; the default 1500 steps of 32 crops took
9 minutes on 2 free cores, much longer on a loaded machine):
    cd <repo> && npm run build
    for s in "101 256" "202 320" "303 256"; do set -- $s
      node dist/cli/main.js synth --out .tmp/emb-train/s$1 --count 160 --size $2 --seed $1; done
    /usr/bin/python3 experiments/train-embedded-backbone.py --data .tmp/emb-train --out models/embedded-v2.bin
Then update EMBEDDED_WEIGHTS_SHA256 in src/lib/features/embedded-weights.ts (the script prints it).

Determinism: fixed seeds, a fixed number of steps and one data worker with its own seeded
generator, so a rerun with the same PyTorch build and thread count (--threads, default 2) is
expected to give the same weights (not checked bit for bit: CPU kernels may reorder sums). The
committed weights file is the reference; its size and checksum are recorded in code.
Measured (magnetic_tile, PatchCore, stage2,stage3, 200 train images): image AUROC 0.662 after
300 steps, 0.713 after 600, 0.794 after the default 1500 (the shipped weights).

Weights file format (little-endian float16, no header): for each conv in Backbone.convs() order, its
BatchNorm-folded weight [out, in, k, k] followed by its bias [out]. The TypeScript graph
(src/lib/features/embedded.ts) declares the same layer list.
"""
import argparse
import glob
import hashlib
import math
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFilter

SEED = 20261125
CROP = 128
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
KINDS = ["brushed-metal", "woven-fabric", "cast-surface", "printed-pattern"]
PROCEDURAL_CLASS = len(KINDS)
STEM, C1, C2, C3 = 24, 32, 64, 128
# Mean absolute change (0-1 scale, 5x5 box) below which a pasted pixel is not labelled anomalous.
VISIBLE_CHANGE = 0.03


# ---------------------------------------------------------------- network
class ConvBN(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        return self.bn(self.conv(x))


class Block(nn.Module):
    """Basic residual block: relu(x + bn(conv(relu(bn(conv(x))))))."""

    def __init__(self, c):
        super().__init__()
        self.a = ConvBN(c, c, 1)
        self.b = ConvBN(c, c, 1)

    def forward(self, x):
        return F.relu(x + self.b(F.relu(self.a(x))))


class Backbone(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = ConvBN(3, STEM, 2)
        self.down1 = ConvBN(STEM, C1, 2)
        self.block1 = Block(C1)
        self.down2 = ConvBN(C1, C2, 2)
        self.block2 = Block(C2)
        self.down3 = ConvBN(C2, C3, 2)
        self.block3 = Block(C3)

    def forward(self, x):
        x = F.relu(self.stem(x))
        s1 = self.block1(F.relu(self.down1(x)))
        s2 = self.block2(F.relu(self.down2(s1)))
        s3 = self.block3(F.relu(self.down3(s2)))
        return s1, s2, s3

    def convs(self):
        """The export order, which src/lib/features/embedded.ts mirrors."""
        return [self.stem, self.down1, self.block1.a, self.block1.b, self.down2, self.block2.a, self.block2.b,
                self.down3, self.block3.a, self.block3.b]


class Trainer(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = Backbone()
        self.seg = nn.Sequential(nn.Conv2d(C1 + C2 + C3, 64, 1), nn.ReLU(), nn.Conv2d(64, 1, 1))
        self.cls = nn.Linear(C3, len(KINDS) + 1)

    def forward(self, x):
        s1, s2, s3 = self.backbone(x)
        size = s1.shape[-2:]
        cat = torch.cat([s1, F.interpolate(s2, size=size, mode="bilinear", align_corners=False),
                         F.interpolate(s3, size=size, mode="bilinear", align_corners=False)], 1)
        seg = F.interpolate(self.seg(cat), scale_factor=4, mode="bilinear", align_corners=False)
        return seg, self.cls(s3.mean((2, 3)))


# ---------------------------------------------------------------- data
def load_synthetic(root):
    """All images of every synth output under root, with masks (zeros for good) and kind index."""
    images, masks, labels = [], [], []
    for kind_dir in sorted(glob.glob(os.path.join(root, "*", "*"))):
        kind = os.path.basename(kind_dir)
        if kind not in KINDS:
            continue
        for path in sorted(glob.glob(os.path.join(kind_dir, "t*", "*", "*.png"))):
            folder = os.path.basename(os.path.dirname(path))
            img = np.asarray(Image.open(path).convert("RGB"), dtype=np.uint8)
            if folder == "good":
                mask = np.zeros(img.shape[:2], np.uint8)
            else:
                stem = os.path.splitext(os.path.basename(path))[0]
                mask = np.asarray(Image.open(os.path.join(kind_dir, "ground_truth", folder, f"{stem}_mask.png")).convert("L"))
                mask = (mask > 127).astype(np.uint8)
            images.append(img)
            masks.append(mask)
            labels.append(KINDS.index(kind))
    if not images:
        raise SystemExit(f"no synthetic images under {root}: run `defect-detection synth` first (see header)")
    return images, masks, labels


def smooth_noise(rng, size, cells_y, cells_x):
    """Value noise: a coarse random grid upsampled bicubically, in about [0, 1]."""
    grid = rng.random((cells_y, cells_x)).astype(np.float32)
    img = Image.fromarray(grid, mode="F").resize((size, size), Image.BICUBIC)
    return np.asarray(img)


def procedural_texture(rng):
    """A random surface unlike the generator's: stripes, multi-octave noise or a periodic grid."""
    kind = rng.integers(3)
    if kind == 0:  # brushed / striped along one axis
        t = smooth_noise(rng, CROP, rng.integers(2, 6), rng.integers(16, 96)) * 0.6
        t += smooth_noise(rng, CROP, rng.integers(1, 4), rng.integers(48, 128)) * 0.4
    elif kind == 1:  # multi-octave noise
        t = sum(smooth_noise(rng, CROP, c, c) * (0.5 ** i) for i, c in enumerate([4, 12, 32, 96]))
        t = t / 1.875
    else:  # periodic weave-like grid with jitter
        y, x = np.mgrid[0:CROP, 0:CROP].astype(np.float32)
        fx, fy = rng.uniform(0.15, 0.9, 2)
        t = 0.5 + 0.25 * np.sin(x * fx + rng.uniform(0, 6)) * np.sin(y * fy + rng.uniform(0, 6))
        t += 0.15 * smooth_noise(rng, CROP, 64, 64)
    t = (t - t.min()) / (t.max() - t.min() + 1e-6)
    base = rng.uniform(0.2, 0.7)
    t = base + rng.uniform(0.1, 0.5) * (t - 0.5)
    tint = 1 + rng.uniform(-0.15, 0.15, 3)
    img = np.clip(t[..., None] * tint[None, None], 0, 1)
    if rng.random() < 0.5:
        img = np.ascontiguousarray(np.rot90(img))
    return img.astype(np.float32)


def random_crop(rng, img, mask):
    """A crop of random scale and aspect (tiles are stretched to a square at inference), resized to CROP."""
    h, w = mask.shape
    ch = int(min(h, CROP * rng.uniform(0.6, 1.8)))
    cw = int(min(w, ch * rng.uniform(0.6, 1.6)))
    y = rng.integers(0, h - ch + 1)
    x = rng.integers(0, w - cw + 1)
    pim = Image.fromarray(img[y:y + ch, x:x + cw]).resize((CROP, CROP), Image.BILINEAR)
    pm = Image.fromarray(mask[y:y + ch, x:x + cw] * 255).resize((CROP, CROP), Image.BILINEAR)
    return np.asarray(pim, np.float32) / 255, np.asarray(pm, np.float32) / 255


def blob_mask(rng):
    """A soft irregular blob: a rotated ellipse with a noisy boundary, size from specks to large areas."""
    y, x = np.mgrid[0:CROP, 0:CROP].astype(np.float32)
    cy, cx = rng.uniform(10, CROP - 10, 2)
    a = rng.uniform(2, 36)
    b = a * rng.uniform(0.2, 1.0)
    th = rng.uniform(0, math.pi)
    u = ((x - cx) * math.cos(th) + (y - cy) * math.sin(th)) / a
    v = (-(x - cx) * math.sin(th) + (y - cy) * math.cos(th)) / b
    r = u * u + v * v + rng.uniform(0, 0.8) * (smooth_noise(rng, CROP, 8, 8) - 0.5)
    return np.clip((1.0 - r) * rng.uniform(2, 8), 0, 1).astype(np.float32)


def stroke_mask(rng):
    """A thin random-walk polyline: cracks and scratches of any direction and width."""
    im = Image.new("L", (CROP, CROP), 0)
    draw = ImageDraw.Draw(im)
    p = rng.uniform(10, CROP - 10, 2)
    ang = rng.uniform(0, 2 * math.pi)
    pts = [tuple(p)]
    for _ in range(rng.integers(3, 14)):
        ang += rng.normal(0, 0.6)
        p = p + rng.uniform(3, 12) * np.array([math.cos(ang), math.sin(ang)])
        pts.append(tuple(p))
    draw.line(pts, fill=255, width=int(rng.integers(1, 5)))
    im = im.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.0)))
    return np.asarray(im, np.float32) / 255


def add_anomaly(rng, img, other):
    """Pastes one synthetic anomaly into img; returns the image and the anomaly's mask."""
    kind = rng.integers(5)
    alpha = stroke_mask(rng) if kind == 4 else blob_mask(rng)
    if kind == 0:  # cut-paste: another surface (or another place of any surface)
        src = other
    elif kind == 1:  # darker or brighter spot
        src = np.clip(img + rng.choice([-1, 1]) * rng.uniform(0.12, 0.5), 0, 1)
    elif kind == 2:  # blurred or noisy patch: the texture itself changes
        if rng.random() < 0.5:
            src = np.asarray(Image.fromarray((img * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(rng.uniform(1.5, 4))), np.float32) / 255
        else:
            src = np.clip(img + rng.normal(0, rng.uniform(0.08, 0.25), img.shape).astype(np.float32), 0, 1)
    elif kind == 3:  # procedural texture swap
        src = procedural_texture(rng)
    else:  # stroke, dark or bright
        src = np.clip(img + rng.choice([-1, 1], p=[0.7, 0.3]) * rng.uniform(0.15, 0.6), 0, 1)
    alpha = alpha * rng.uniform(0.6, 1.0)
    out = img * (1 - alpha[..., None]) + src * alpha[..., None]
    # Only what changed visibly is anomalous: a pasted patch can match its surroundings in places.
    diff = Image.fromarray((np.abs(out - img).max(axis=2) * 255).astype(np.uint8)).filter(ImageFilter.BoxBlur(2))
    visible = np.asarray(diff, np.float32) / 255 > VISIBLE_CHANGE
    return out, ((alpha > 0.3) & visible).astype(np.float32)


def photometric(rng, img):
    """Variation good parts show (grey cameras, lighting, exposure, sensor noise): must not look anomalous."""
    if rng.random() < 0.5:
        g = img @ np.array([0.299, 0.587, 0.114], np.float32)
        img = np.repeat(g[..., None], 3, axis=2)
    mean = img.mean()
    img = (img - mean) * rng.uniform(0.5, 1.5) + mean + rng.uniform(-0.25, 0.25)
    if rng.random() < 0.5:  # smooth illumination field
        img = img * (1 + rng.uniform(0, 0.5) * (smooth_noise(rng, CROP, 2, 2)[..., None] - 0.5))
    img = np.clip(img, 0, 1) ** rng.uniform(0.6, 1.6)
    if rng.random() < 0.3:
        img = img + rng.normal(0, rng.uniform(0.005, 0.04), img.shape).astype(np.float32)
    return np.clip(img, 0, 1).astype(np.float32)


def geometric(rng, img, mask):
    k = rng.integers(4)
    img, mask = np.rot90(img, k), np.rot90(mask, k)
    if rng.random() < 0.5:
        img, mask = img[:, ::-1], mask[:, ::-1]
    return np.ascontiguousarray(img), np.ascontiguousarray(mask)


def make_batch(rng, data, batch):
    images, masks, labels = data
    xs, ms, ys = [], [], []
    for _ in range(batch):
        if rng.random() < 0.2:
            img, mask, label = procedural_texture(rng), np.zeros((CROP, CROP), np.float32), PROCEDURAL_CLASS
        else:
            i = rng.integers(len(images))
            img, mask = random_crop(rng, images[i], masks[i])
            label = labels[i]
        img, mask = geometric(rng, img, mask)
        for _ in range(rng.choice([0, 1, 1, 2])):
            j = rng.integers(len(images))
            other = random_crop(rng, images[j], masks[j])[0] if rng.random() < 0.7 else procedural_texture(rng)
            img, m = add_anomaly(rng, img, other)
            mask = np.maximum(mask, m)
        img = photometric(rng, img)
        xs.append(img)
        ms.append(mask)
        ys.append(label)
    x = torch.from_numpy(np.stack(xs)).permute(0, 3, 1, 2)
    x = (x - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return x.contiguous(), torch.from_numpy(np.stack(ms))[:, None], torch.tensor(ys)


class BatchStream(torch.utils.data.IterableDataset):
    """Batches made in one worker process, beside training; one worker keeps the sequence fixed."""

    def __init__(self, data, batch, steps):
        super().__init__()
        self.data, self.batch, self.steps = data, batch, steps

    def __iter__(self):
        torch.set_num_threads(1)
        rng = np.random.default_rng(SEED + 1)
        for _ in range(self.steps):
            yield make_batch(rng, self.data, self.batch)


# ---------------------------------------------------------------- export
def folded(cb):
    """Conv weight and bias with the BatchNorm's running statistics folded in."""
    bn = cb.bn
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    w = cb.conv.weight * scale.view(-1, 1, 1, 1)
    b = bn.bias - bn.running_mean * scale
    return w.detach(), b.detach()


def export(backbone, path):
    parts = []
    for cb in backbone.convs():
        w, b = folded(cb)
        parts += [w.reshape(-1), b.reshape(-1)]
    flat = torch.cat(parts).numpy().astype("<f2")
    if not np.all(np.isfinite(flat)):
        raise SystemExit("non-finite weight after float16 conversion")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    data = flat.tobytes()
    with open(path, "wb") as f:
        f.write(data)
    print(f"wrote {path}: {len(flat)} values, {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True, help="folder holding one or more synth outputs")
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--checkpoint-every", type=int, default=0, help="also export every N steps (for measuring)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(SEED)
    data = load_synthetic(args.data)
    print(f"{len(data[0])} synthetic images")
    model = Trainer()
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.steps, pct_start=0.05)
    start = time.time()
    batches = torch.utils.data.DataLoader(BatchStream(data, args.batch, args.steps), batch_size=None, num_workers=1, prefetch_factor=4)
    for step, (x, m, y) in enumerate(batches, start=1):
        seg, cls = model(x)
        p = torch.sigmoid(seg)
        dice = 1 - (2 * (p * m).sum() + 1) / (p.sum() + m.sum() + 1)
        bce = F.binary_cross_entropy_with_logits(seg, m, pos_weight=torch.tensor(4.0))
        ce = F.cross_entropy(cls, y)
        loss = bce + dice + 0.3 * ce
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 25 == 0:
            print(f"step {step} bce {bce.item():.3f} dice {dice.item():.3f} ce {ce.item():.3f} {time.time() - start:.0f}s", flush=True)
        if args.checkpoint_every and step % args.checkpoint_every == 0 and step < args.steps:
            model.eval()
            export(model.backbone, f"{os.path.splitext(args.out)[0]}-step{step}.bin")
            model.train()
    model.eval()
    export(model.backbone, args.out)


if __name__ == "__main__":
    main()
