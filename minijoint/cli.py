r"""The command line: ``python -m minijoint {train, eval, ablation, energy, figures}``.

    python -m minijoint train                      # `full` on digits, a few minutes on 2 cores
    python -m minijoint train --mode snn --epochs 10
    python -m minijoint train --dataset cifar10 --data-path ~/data --model resnet18 \
        --width 64 --backend cupy                 # the paper's setting, on a GPU
    python -m minijoint eval runs/full-digits/checkpoint.npz
    python -m minijoint ablation --seeds 0 1 2
    python -m minijoint energy runs/full-digits/checkpoint.npz
    python -m minijoint figures runs/full-digits --out docs
"""
from __future__ import annotations

import argparse
import dataclasses
import sys

from .joint.config import DATASETS, MODELS, SURROGATES, TrainConfig
from .joint.modes import MODES

_D = TrainConfig()


def _add_train_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("what to train")
    g.add_argument("--mode", default=_D.mode, choices=list(MODES),
                   help="a row of Table 4: ann, snn (alone), kd (frozen ANN teacher), joint-ce-kld, "
                        "joint-ce-kld-norm (separate weights), wft, full (factorized weights) "
                        "[default: %(default)s]")
    g.add_argument("--dataset", default=_D.dataset, choices=DATASETS, help="[default: %(default)s]")
    g.add_argument("--data-path", default=None,
                   help="folder or archive of CIFAR / Tiny-ImageNet (never downloaded)")
    g.add_argument("--model", default=_D.model, choices=MODELS,
                   help="resnet10 = one block per stage, suits 8x8 digits [default: %(default)s]")
    g.add_argument("--width", type=int, default=_D.width,
                   help="channels of stage 1 (the paper: 64) [default: %(default)s]")
    g = p.add_argument_group("spiking neurons (Eqs. 1-5)")
    g.add_argument("--T", type=int, default=_D.T, help="time steps [default: %(default)s]")
    g.add_argument("--tau", type=float, default=_D.tau, help="membrane leak in (0, 1) [default: %(default)s]")
    g.add_argument("--v-th", type=float, default=_D.v_th, help="firing threshold [default: %(default)s]")
    g.add_argument("--surrogate", default=_D.surrogate, choices=SURROGATES, help="[default: %(default)s]")
    g.add_argument("--detach-reset", action="store_true", help="no gradient through the reset")
    g.add_argument("--readout", default=_D.readout, choices=("mean", "sum"),
                   help="Eq. 3 averages over T; the released code sums [default: %(default)s]")
    g = p.add_argument_group("optimization (Section 5.1)")
    g.add_argument("--epochs", type=int, default=_D.epochs, help="[default: %(default)s]")
    g.add_argument("--batch-size", type=int, default=_D.batch_size, help="[default: %(default)s]")
    g.add_argument("--optimizer", default=_D.optimizer, choices=("adam", "sgd"), help="[default: %(default)s]")
    g.add_argument("--lr", type=float, default=_D.lr, help="[default: %(default)s]")
    g.add_argument("--weight-decay", type=float, default=_D.weight_decay,
                   help="coupled L2, as the paper's Adam [default: %(default)s]")
    g.add_argument("--lambda-kld", type=float, default=_D.lambda_kld, help="λ1 of Eq. 10 [default: %(default)s]")
    g.add_argument("--lambda-norm", type=float, default=_D.lambda_norm,
                   help="λ2 of Eq. 10; see README on its scale [default: %(default)s]")
    g.add_argument("--temperature", type=float, default=_D.temperature, help="κ of Eq. 8 [default: %(default)s]")
    g = p.add_argument_group("run")
    g.add_argument("--seed", type=int, default=_D.seed, help="[default: %(default)s]")
    g.add_argument("--backend", default=_D.backend, choices=("numpy", "cupy"), help="[default: %(default)s]")
    g.add_argument("--dtype", default=_D.dtype, choices=("float32", "float64"), help="[default: %(default)s]")
    g.add_argument("--teacher", default=None, help="kd: checkpoint of a trained `ann` run")
    g.add_argument("--limit-train", type=int, default=None, help="use only the first N training images")
    g.add_argument("--limit-test", type=int, default=None, help="use only the first N test images")
    g.add_argument("--threads", type=int, default=1,
                   help="BLAS threads on the CPU; CPU-sized nets multiply small matrices, where one "
                        "thread is fastest on a 2-core machine [default: %(default)s]")


def _config(args) -> TrainConfig:
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    return TrainConfig(**{k: v for k, v in vars(args).items() if k in fields}).validate()


def make_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m minijoint", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train one mode; writes a run folder",
                       description="Train an ANN and/or an SNN (Joint A-SNN and its ablations).")
    _add_train_options(t)
    t.add_argument("--out", default=None, help="run folder [default: runs/<mode>-<dataset>]")
    t.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    e = sub.add_parser("eval", help="re-evaluate a checkpoint on its test set")
    e.add_argument("checkpoint")
    a = sub.add_parser("ablation", help="Table 4: several modes over several seeds")
    _add_train_options(a)
    a.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    a.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    a.add_argument("--out", default="runs/ablation")
    a.add_argument("--summarize", action="store_true",
                   help="only re-tabulate the finished runs in --out (no training)")
    en = sub.add_parser("energy", help="Tables 5-6: operations and energy of a trained checkpoint")
    en.add_argument("checkpoint")
    en.add_argument("--batches", type=int, default=None, help="measure firing rates on this many test batches")
    f = sub.add_parser("figures", help="draw the README's pictures from a run folder")
    f.add_argument("run_dir")
    f.add_argument("--out", default="docs", help="[default: %(default)s]")
    for sp in (e, en, f):
        sp.add_argument("--threads", type=int, default=1, help="BLAS threads [default: %(default)s]")
    return p


def main(argv=None) -> int:
    args = make_parser().parse_args(argv)
    from .joint.checkpoint import CheckpointError
    from .joint.train import TrainingDiverged
    try:
        return _run(args)
    except KeyboardInterrupt:
        return 130
    except TrainingDiverged as e:
        print(f"error: training diverged: {e}", file=sys.stderr)
        return 1
    except (ValueError, FileNotFoundError, CheckpointError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def _run(args) -> int:
    from threadpoolctl import threadpool_limits
    if args.threads < 1:
        raise ValueError(f"--threads must be >= 1, got {args.threads}")
    with threadpool_limits(args.threads):
        return _dispatch(args)


def _dispatch(args) -> int:
    if args.command == "train":
        from .joint.train import train
        cfg = TrainConfig() if args.resume else _config(args)
        out = args.out or f"runs/{cfg.mode}-{cfg.dataset}"
        train(cfg, out, resume=args.resume)  # on resume the saved config is used
        print(f"run folder: {out}")
    elif args.command == "eval":
        from .joint.train import evaluate_checkpoint
        res = evaluate_checkpoint(args.checkpoint)
        for k in ("ann_acc", "snn_acc"):
            if k in res:
                print(f"{k[:3].upper()} test accuracy: {res[k]:.2%}")
    elif args.command == "ablation":
        from .joint.ablation import run_ablation
        run_ablation(args.modes, args.seeds, _config(args), args.out, summarize_only=args.summarize)
    elif args.command == "energy":
        from .energy import energy_report
        print(energy_report(args.checkpoint, batches=args.batches))
    elif args.command == "figures":
        from .figures import make_figures
        for p in make_figures(args.run_dir, args.out):
            print(p)
    return 0
