"""A LeJEPA-style self-supervised training script with sigreg.SIGReg — the pattern to copy.

    python examples/lejepa/train.py                               # CPU, one process, < 1 minute
    torchrun --nproc_per_node 2 examples/lejepa/train.py          # DDP: gloo on CPU, NCCL on GPUs
    python examples/lejepa/train.py --lam 0                       # no SIGReg: the embedding collapses
    python examples/lejepa/train.py --device cuda --compile --bf16

What it does (LeJEPA, Balestriero & LeCun 2025): V augmented views of every sample go through an
encoder (the backbone, whose output h is the representation) and a projector (z = the embedding
the losses see). The loss is

    (1 − λ) · invariance(z) + λ · SIGReg(z),     invariance = mean_v ‖z_v − mean_v' z_v'‖²

where SIGReg pushes each view's embeddings towards an isotropic Gaussian, which is what keeps the
invariance term from collapsing every sample onto one point. A linear probe on h.detach() is
trained online beside it (its own cross-entropy, no gradient into the encoder) and its test
accuracy is the measure of the representation. AdamW with linear warmup then cosine decay; bf16
autocast (--bf16); torch.compile of the model and loss (--compile; backward stays outside).

Under torchrun every rank trains on its own shard of each global batch; DDP averages the
gradients, and SIGReg all-reduces its sums so the statistic is that of the GLOBAL batch (the same
number on every rank; sigreg scales its gradient so that DDP's averaging gives the single-process
update, docs/python.md).

The data are generated (nothing is downloaded): each class is a random smooth 1-D template of
--length samples; a sample is its class's template circularly shifted by a random amount, scaled
and noised. The augmentations shift, scale, mask and noise it again, so the class is what the
views share and the shift is what they do not: a linear probe on the raw signal does poorly, one
on a shift-invariant representation does well.
"""
import argparse
import math
import os
import time

import torch
import torch.distributed as dist
import torch.nn.functional as F

import sigreg


def make_templates(classes, length, generator):
    """(classes, length): smooth random signals (a few low-frequency sinusoids), unit RMS."""
    t = torch.arange(length, dtype=torch.float32) * (2 * math.pi / length)
    freqs = torch.arange(1, 6, dtype=torch.float32)
    amp = torch.randn(classes, len(freqs), generator=generator)
    phase = torch.rand(classes, len(freqs), generator=generator) * 2 * math.pi
    x = (amp[:, :, None] * torch.cos(freqs[None, :, None] * t + phase[:, :, None])).sum(1)
    return x / x.square().mean(1, keepdim=True).sqrt()


def make_dataset(templates, n, generator):
    """(x (n, length), y (n,)): shifted, scaled, noised copies of random classes' templates."""
    classes, length = templates.shape
    y = torch.randint(classes, (n,), generator=generator)
    shift = torch.randint(length, (n,), generator=generator)
    idx = (torch.arange(length)[None, :] - shift[:, None]) % length
    x = templates[y[:, None], idx]
    x = x * (0.7 + 0.6 * torch.rand(n, 1, generator=generator))
    return x + 0.2 * torch.randn(n, length, generator=generator), y


def augment(x, views, generator):
    """(V, N, length): V views of x (N, length) — random shift, gain, feature mask and noise."""
    V, (N, L) = views, x.shape
    shift = torch.randint(-L // 8, L // 8 + 1, (V, N), generator=generator, device=x.device)
    idx = (torch.arange(L, device=x.device)[None, None, :] - shift[..., None]) % L
    out = torch.gather(x.expand(V, N, L), 2, idx)
    out = out * (0.8 + 0.4 * torch.rand(V, N, 1, generator=generator, device=x.device))
    keep = torch.rand(V, N, L, generator=generator, device=x.device) > 0.15
    return out * keep + 0.1 * torch.randn(V, N, L, generator=generator, device=x.device)


class Model(torch.nn.Module):
    """Encoder (backbone → h), projector (h → z) and the online linear probe (h.detach() → logits)."""

    def __init__(self, length, width, embed, classes):
        super().__init__()
        self.encoder = torch.nn.Sequential(
            torch.nn.Linear(length, width), torch.nn.GELU(), torch.nn.Linear(width, width),
            torch.nn.GELU(), torch.nn.Linear(width, width))
        self.projector = torch.nn.Sequential(
            torch.nn.Linear(width, width), torch.nn.BatchNorm1d(width), torch.nn.GELU(),
            torch.nn.Linear(width, embed))
        self.probe = torch.nn.Linear(width, classes)

    def forward(self, views):
        """views (V, N, L) → h (V, N, width), z (V, N, embed), logits (V, N, classes)."""
        V, N, L = views.shape
        h = self.encoder(views.reshape(V * N, L))
        z = self.projector(h)
        logits = self.probe(h.detach())
        return h.view(V, N, -1), z.view(V, N, -1), logits.view(V, N, -1)


def lejepa_losses(model, reg, views, labels, lam):
    """(total, invariance, sigreg, probe cross-entropy) for views (V, N, L) of labelled samples."""
    _, z, logits = model(views)
    z = z.float()
    invariance = (z - z.mean(0, keepdim=True)).square().sum(-1).mean()
    sig = reg(z)  # (V, N, embed): each view regularised towards N(0, I); global batch under DDP
    probe = F.cross_entropy(logits.flatten(0, 1).float(), labels.repeat(views.shape[0]))
    return (1 - lam) * invariance + lam * sig + probe, invariance, sig, probe


def warmup_cosine(step, warmup, total):
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


@torch.no_grad()
def probe_accuracy(model, x, y, batch=1024):
    """Test accuracy of the online probe on clean (unaugmented) samples."""
    model.eval()
    correct = 0
    for i in range(0, len(x), batch):
        _, _, logits = model(x[i:i + batch][None])
        correct += (logits[0].argmax(-1) == y[i:i + batch]).sum().item()
    model.train()
    return correct / len(x)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--batch", type=int, default=256, help="global batch (split over the ranks)")
    p.add_argument("--views", type=int, default=4)
    p.add_argument("--lam", type=float, default=0.05, help="λ: SIGReg's weight (LeJEPA: 0.05)")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--weight-decay", type=float, default=0.05)
    p.add_argument("--warmup", type=int, default=30)
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--length", type=int, default=64)
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--embed", type=int, default=32)
    p.add_argument("--train-size", type=int, default=20000)
    p.add_argument("--test-size", type=int, default=4000)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--bf16", action="store_true", help="bf16 autocast for the model")
    p.add_argument("--compile", action="store_true", help="torch.compile the model and loss")
    p.add_argument("--threads", type=int, default=1,
                   help="CPU threads per rank (this model is small: more threads mostly wait)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--min-accuracy", type=float, default=None,
                   help="exit with status 1 if the final probe accuracy is below this")
    args = p.parse_args()

    distributed = "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1
    if distributed:
        rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        local = int(os.environ.get("LOCAL_RANK", 0))
        if args.device == "cuda":
            torch.cuda.set_device(local)
        dist.init_process_group("nccl" if args.device == "cuda" else "gloo")
    else:
        rank, world, local = 0, 1, 0
    device = torch.device(args.device, local) if args.device == "cuda" else torch.device("cpu")
    if device.type == "cpu":
        torch.set_num_threads(args.threads)
    if args.batch % world:
        raise SystemExit(f"--batch {args.batch} must divide by the world size {world}")

    # The same data on every rank (same seed); each rank takes its shard of every global batch.
    g = torch.Generator().manual_seed(args.seed)
    templates = make_templates(args.classes, args.length, g)
    x_train, y_train = make_dataset(templates, args.train_size, g)
    x_test, y_test = make_dataset(templates, args.test_size, g)
    x_train, y_train = x_train.to(device), y_train.to(device)
    x_test, y_test = x_test.to(device), y_test.to(device)

    torch.manual_seed(args.seed)  # the same initial weights on every rank
    model = Model(args.length, args.width, args.embed, args.classes).to(device)
    reg = sigreg.SIGReg().to(device)  # LeJEPA's defaults: knots=17, 256 slices; DDP-aware
    if distributed:
        model = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[local] if device.type == "cuda" else None)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: warmup_cosine(s, args.warmup, args.steps))
    losses = torch.compile(lejepa_losses) if args.compile else lejepa_losses

    local_batch = args.batch // world
    aug = torch.Generator(device=device).manual_seed(args.seed * 1000 + rank)
    order = torch.Generator().manual_seed(args.seed + 1)
    times = []
    for step in range(args.steps):
        begin = time.perf_counter()
        idx = torch.randint(args.train_size, (args.batch,), generator=order)  # same on all ranks
        idx = idx[rank * local_batch:(rank + 1) * local_batch].to(device)
        views = augment(x_train[idx], args.views, aug)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.bf16):
            total, inv, sig, probe = losses(model, reg, views, y_train[idx], args.lam)
        opt.zero_grad(set_to_none=True)
        total.backward()
        opt.step()
        sched.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - begin)
        if rank == 0 and (step % args.log_every == 0 or step == args.steps - 1):
            print(f"step {step:4d}  loss {total.item():.4f}  invariance {inv.item():.4f}  "
                  f"sigreg {sig.item():.4f}  probe-ce {probe.item():.4f}  "
                  f"lr {sched.get_last_lr()[0]:.2e}", flush=True)

    core = model.module if distributed else model
    accuracy = probe_accuracy(core, x_test, y_test)
    steady = times[min(10, len(times) - 1):]  # past the first steps (compilation, warm-up)
    if rank == 0:
        print(f"probe accuracy {accuracy:.4f}  (chance {1 / args.classes:.2f}; λ = {args.lam}, "
              f"{args.steps} steps, world {world})")
        print(f"step time {1e3 * sum(steady) / len(steady):.2f} ms "
              f"(mean over steps {len(times) - len(steady)}..{len(times) - 1}, "
              f"global batch {args.batch} × {args.views} views, {device.type})")
    if distributed:
        dist.destroy_process_group()
    if args.min_accuracy is not None and accuracy < args.min_accuracy:
        raise SystemExit(f"probe accuracy {accuracy:.4f} < --min-accuracy {args.min_accuracy}")


if __name__ == "__main__":
    main()
