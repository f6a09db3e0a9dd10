"""Speed and memory of the softmax-contrastive objectives, as ratios measured in one run.

1. In-batch InfoNCE forward+backward (cosine, B x B logits) at B in {512, 1024, 4096},
   d = 256: median time, achieved GFLOP/s (the three B x B x d GEMMs, 6 B^2 d flops),
   ratio to a bare ``normalize + matmul + cross_entropy`` baseline, ratio to
   pytorch-metric-learning's ``NTXentLoss`` (``ref_emb`` form, same loss) where its
   O(B^3) pair masks fit in ``--pml-max-gb``, and the machine's matmul rate.
2. Tiled InfoNCE vs the plain form at a size both run (B = 8192).
3. Peak memory of tiled InfoNCE forward+backward at B = 65,536 (and of both forms at
   B = 8192), each in a fresh subprocess: the process's peak RSS (``VmHWM`` from
   /proc/self/status, which includes the ~0.3 GB of the torch runtime) and its
   increase over the RSS just before the loss (after imports and input allocation).

Timings interleave the contenders inside each repetition and report medians: the
machine is shared, so absolute numbers are noise and the ratios are the result.
Default ``--threads 1``: with 2 threads on 2 oversubscribed cores, OpenMP barriers
dominate small kernels. The B = 65,536 run does ~8.8 TFLOP (four B x B x d GEMMs), which
takes several minutes on a shared 2-core machine; ``--huge`` changes that B.

    python benchmarks/bench_losses.py            # full run
    python benchmarks/bench_losses.py --quick    # smaller sizes, < 1 minute
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from contrastkit.functional.info_nce import info_nce
from contrastkit.functional.tiled_info_nce import tiled_info_nce

TEMPERATURE = 0.07
Fn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def baseline(a: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """The bare minimum: normalise, one GEMM, cross-entropy on the diagonal (1/tau folded
    into a [B, d] operand, as ours does; dividing the [B, B] logits instead costs an extra
    B x B pass and would flatter the ratio)."""
    logits = (F.normalize(a, dim=1) / TEMPERATURE) @ F.normalize(p, dim=1).T
    return F.cross_entropy(logits, torch.arange(a.shape[0]))


def ours(a: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    return info_nce(a, p, temperature=TEMPERATURE)


def make_pml() -> Fn | None:
    try:
        from pytorch_metric_learning.losses import NTXentLoss
    except ImportError:
        return None
    loss = NTXentLoss(temperature=TEMPERATURE)

    def pml(a: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        idx = torch.arange(a.shape[0])
        return loss(a, idx, ref_emb=p, ref_labels=idx.clone())

    return pml


def pml_bytes(b: int) -> int:
    # its n_per_p mask is [#positive pairs, #negative pairs] = B x B(B-1), float + bool
    return 5 * b * b * (b - 1)


def step(fn: Fn, a: torch.Tensor, p: torch.Tensor) -> float:
    a.grad = p.grad = None
    t0 = time.perf_counter()
    fn(a, p).backward()
    return time.perf_counter() - t0


def matmul_step(a: torch.Tensor, p: torch.Tensor) -> float:
    """Seconds for one bare ``[B, d] @ [d, B]`` GEMM (repeated to >= ~0.5 GFLOP of work)."""
    x, y = a.detach(), p.detach()
    n = max(1, round(5e8 / (2 * x.shape[0] * y.shape[0] * x.shape[1])))
    t0 = time.perf_counter()
    for _ in range(n):
        x @ y.T
    return (time.perf_counter() - t0) / n


def interleaved(
    fns: dict[str, Fn], a: torch.Tensor, p: torch.Tensor, reps: int
) -> dict[str, float]:
    """Median seconds per contender, the contenders alternating within each repetition."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    times["matmul"] = []
    for fn in fns.values():  # warm-up
        step(fn, a, p)
    for _ in range(reps):
        for name, fn in fns.items():
            times[name].append(step(fn, a, p))
        times["matmul"].append(matmul_step(a, p))
    return {k: statistics.median(v) for k, v in times.items()}


def inputs(b: int, d: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(b, d, generator=g).requires_grad_()
    p = (a.detach() + 0.5 * torch.randn(b, d, generator=g)).requires_grad_()
    return a, p


def section_in_batch(sizes: list[int], d: int, pml_max_gb: float) -> None:
    pml = make_pml()
    print(f"\n== in-batch InfoNCE fwd+bwd, d={d}, cosine, tau={TEMPERATURE} ==")
    cols = ["ours ms", "GFLOP/s", "/matmul", "base ms", "ours/base", "pml ms", "ours/pml"]
    print(f"{'B':>6} " + " ".join(f"{c:>9}" for c in cols))
    for b in sizes:
        a, p = inputs(b, d)
        fns: dict[str, Fn] = {"ours": ours, "base": baseline}
        t = interleaved(fns, a, p, reps=15 if b <= 1024 else 5)
        flops = 6.0 * b * b * d
        gflops = flops / t["ours"] / 1e9
        mm_rate = 2.0 * b * b * d / t["matmul"] / 1e9
        if pml is None:
            pml_txt = f"{'n/a':>9} {'no pml':>9}"
        elif pml_bytes(b) > pml_max_gb * 2**30:
            pml_txt = f"{'n/a':>9} {f'~{pml_bytes(b) / 2**30:.0f}GiB':>9}"
        else:
            # O(B^3) and ~1000x slower: two runs, no interleaving needed at that ratio
            t_pml = statistics.median(step(pml, a, p) for _ in range(2))
            pml_txt = f"{t_pml * 1e3:9.1f} {t['ours'] / t_pml:9.4f}"
        print(
            f"{b:6d} {t['ours'] * 1e3:9.1f} {gflops:9.1f} {gflops / mm_rate:9.2f} "
            f"{t['base'] * 1e3:9.1f} {t['ours'] / t['base']:9.3f} {pml_txt}"
        )
    print("target: ours/base <= 1.2")


def section_tiled_time(b: int, d: int, reps: int) -> None:
    print(f"\n== tiled vs plain InfoNCE fwd+bwd, B={b}, d={d} ==")
    a, p = inputs(b, d)
    fns: dict[str, Fn] = {
        "plain": ours,
        "tiled": lambda a, p: tiled_info_nce(a, p, temperature=TEMPERATURE),
    }
    t = interleaved(fns, a, p, reps)
    print(
        f"plain {t['plain'] * 1e3:.1f} ms   tiled {t['tiled'] * 1e3:.1f} ms   "
        f"tiled/plain {t['tiled'] / t['plain']:.3f}   (target <= 1.5)"
    )


def child_memory(form: str, b: int, d: int) -> None:
    """Runs in a fresh process: one forward+backward, report RSS figures as JSON."""
    a, p = inputs(b, d)
    before = _status_bytes("VmRSS")
    t0 = time.perf_counter()
    fn = ours if form == "plain" else (lambda a, p: tiled_info_nce(a, p, temperature=TEMPERATURE))
    fn(a, p).backward()
    seconds = time.perf_counter() - t0
    # VmHWM is this process image's RSS high-water mark; ru_maxrss would also carry the
    # parent's RSS over fork+exec, so it is not used
    peak = _status_bytes("VmHWM")
    print(json.dumps({"before": before, "peak": peak, "seconds": seconds}))


def _status_bytes(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024  # reported in kB
    raise RuntimeError(f"{field} not in /proc/self/status")


def run_child(form: str, b: int, d: int, threads: int) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--child", form, str(b), str(d), "--threads", str(threads)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def section_memory(big: int, mid: int, d: int, threads: int) -> None:
    print("\n== peak memory, one fwd+bwd in a fresh subprocess (VmHWM) ==")
    print(f"{'form':>6} {'B':>6} {'peak RSS MiB':>13} {'increase MiB':>13} {'time s':>8}")
    runs = [("plain", mid), ("tiled", mid), ("tiled", big)]
    for form, b in runs:
        r = run_child(form, b, d, threads)
        print(
            f"{form:>6} {b:6d} {r['peak'] / 2**20:13.0f} {(r['peak'] - r['before']) / 2**20:13.0f} "
            f"{r['seconds']:8.1f}"
        )
    print(
        f"plain at B={big} would hold {big * big * 4 / 2**30:.2f} GiB per B x B float32 copy; "
        "target: tiled peak < 2048 MiB"
    )


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="smaller sizes")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument(
        "--pml-max-gb", type=float, default=None, help="skip pml above this memory estimate"
    )
    ap.add_argument("--huge", type=int, default=None, help="B of the tiled memory run")
    ap.add_argument("--child", nargs=3, metavar=("FORM", "B", "D"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.child:
        child_memory(args.child[0], int(args.child[1]), int(args.child[2]))
        return
    d = 256
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, quick={args.quick}")
    sizes = [256, 512, 1024] if args.quick else [512, 1024, 4096]
    pml_max_gb = args.pml_max_gb or (0.25 if args.quick else 1.0)
    section_in_batch(sizes, d, pml_max_gb)
    section_tiled_time(2048 if args.quick else 8192, d, reps=3)
    huge = args.huge or (16384 if args.quick else 65536)
    section_memory(huge, 2048 if args.quick else 8192, d, args.threads)


if __name__ == "__main__":
    main()
