r"""The command line: ``python -m minijoint {train, eval, ablation, energy, figures, course, site}``.

    python -m minijoint train                      # `full` on digits, a few minutes on 2 cores
    python -m minijoint train --mode snn --epochs 10
    python -m minijoint train --dataset cifar10 --data-path ~/data --model resnet18 \
        --width 64 --backend cupy                 # the paper's setting, on a GPU
    python -m minijoint train --resume --out runs/full-digits --epochs 60   # train on
    python -m minijoint eval runs/full-digits
    python -m minijoint ablation --seeds 0 1 2
    python -m minijoint energy runs/full-digits
    python -m minijoint figures runs/full-digits       # into runs/full-digits/figures
    python -m minijoint course student handout/        # the exercise notebooks, to solve
    python -m minijoint course check submissions/*/ --csv grades.csv   # a folder per student
    python -m minijoint site site/                     # the course website, offline (~1 min)
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys

from .joint.config import DATASETS, MODELS, SURROGATES, TrainConfig
from .joint.modes import MODES

_D = TrainConfig()


def _option(g, flag: str, help: str, **kw) -> None:
    """A TrainConfig option whose parsed default is None, so that the options a user typed
    can be told apart from defaults (``--resume`` compares exactly those with the saved run);
    the help shows the real default."""
    field = flag.lstrip("-").replace("-", "_")
    default = getattr(_D, field)
    if kw.get("action") != "store_true" and default is not None:
        help = f"{help} [default: {default}]".strip()
    g.add_argument(flag, default=None, help=help, **kw)


def _add_train_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("what to train")
    _option(g, "--mode", "a row of Table 4: ann, snn (alone), kd (frozen ANN teacher), joint-ce-kld, "
                         "joint-ce-kld-norm (separate weights), wft, full (factorized weights)",
            choices=list(MODES))
    _option(g, "--dataset", "", choices=DATASETS)
    _option(g, "--data-path", "folder or archive of CIFAR / Tiny-ImageNet (never downloaded)")
    _option(g, "--model", "resnet10 = one block per stage, suits 8x8 digits", choices=MODELS)
    _option(g, "--width", "channels of stage 1 (the paper: 64)", type=int)
    g = p.add_argument_group("spiking neurons (Eqs. 1-5)")
    _option(g, "--T", "time steps", type=int)
    _option(g, "--tau", "membrane leak in (0, 1)", type=float)
    _option(g, "--v-th", "firing threshold", type=float)
    _option(g, "--surrogate", "", choices=SURROGATES)
    _option(g, "--detach-reset", "no gradient through the reset", action="store_true")
    _option(g, "--readout", "Eq. 3 averages over T; the released code sums", choices=("mean", "sum"))
    g = p.add_argument_group("optimization (Section 5.1)")
    _option(g, "--epochs", "with --resume: a larger number trains the run on", type=int)
    _option(g, "--batch-size", "", type=int)
    _option(g, "--optimizer", "", choices=("adam", "sgd"))
    _option(g, "--lr", "", type=float)
    _option(g, "--weight-decay", "coupled L2, as the paper's Adam", type=float)
    _option(g, "--lambda-kld", "λ1 of Eq. 10", type=float)
    _option(g, "--lambda-norm", "λ2 of Eq. 10; see README on its scale", type=float)
    _option(g, "--temperature", "κ of Eq. 8", type=float)
    g = p.add_argument_group("run")
    _option(g, "--seed", "", type=int)
    _option(g, "--backend", "", choices=("numpy", "cupy"))
    _option(g, "--dtype", "", choices=("float32", "float64"))
    _option(g, "--teacher", "kd: checkpoint of a trained `ann` run")
    _option(g, "--limit-train", "use only the first N training images", type=int)
    _option(g, "--limit-test", "use only the first N test images", type=int)
    _add_threads(p)


def _add_threads(p) -> None:
    p.add_argument("--threads", type=int, default=1,
                   help="threads on the CPU: the convolutions share their blocks of work among N "
                        "threads, BLAS held at one thread [default: %(default)s]")


def _given(args) -> dict:
    """The TrainConfig settings typed on the command line."""
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    return {k: v for k, v in vars(args).items() if k in fields and v is not None}


def _config(args, base: TrainConfig = _D) -> TrainConfig:
    """``base`` with the settings typed on the command line, validated."""
    return dataclasses.replace(base, **_given(args)).validate()


def make_parser() -> argparse.ArgumentParser:
    # `minijoint ...` (the installed command) or `python -m minijoint ...`, as it was typed
    prog = "minijoint" if os.path.basename(sys.argv[0]) == "minijoint" else "python -m minijoint"
    p = argparse.ArgumentParser(prog=prog, description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train one mode; writes a run folder",
                       description="Train an ANN and/or an SNN (Joint A-SNN and its ablations). "
                                   "A folder that holds a run is never overwritten: continue it "
                                   "with --resume, or replace it with --overwrite.")
    _add_train_options(t)
    t.add_argument("--out", default=None, help="run folder [default: runs/<mode>-<dataset>]")
    how = t.add_mutually_exclusive_group()
    how.add_argument("--resume", action="store_true",
                     help="continue the run in --out from its checkpoint; only --epochs may change")
    how.add_argument("--overwrite", action="store_true",
                     help="replace the run in --out (its checkpoint, config and metrics are deleted)")
    e = sub.add_parser("eval", help="re-evaluate a checkpoint on its test set")
    e.add_argument("checkpoint", help="a run folder or its checkpoint.npz")
    _add_threads(e)
    a = sub.add_parser("ablation", help="Table 4: several modes over several seeds")
    _add_train_options(a)
    a.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES),
                   help="the modes to train [default: all]")
    a.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2],
                   help="one run per mode and seed [default: 0 1 2]")
    a.add_argument("--out", default="runs/ablation",
                   help="folder of the runs (<out>/<mode>/seed<k>) and table4.md [default: %(default)s]")
    a.add_argument("--summarize", action="store_true",
                   help="only re-tabulate the finished runs in --out (no training)")
    en = sub.add_parser("energy", help="Tables 5-6 (or --model NAME): operations and energy of a trained "
                                       "checkpoint; also writes energy.md, energy.csv, energy_layers.csv beside it")
    en.add_argument("checkpoint", nargs="?", help="a run folder or its checkpoint.npz")
    en.add_argument("--batches", type=int, default=None, help="measure firing rates on this many test batches")
    en.add_argument("--model", default="paper", metavar="NAME",
                    help="cost model: paper (Tables 5-6), lemaire, lemaire-int8 (memory-aware; "
                         "also write energy-NAME.md/.csv/.png); `list` names them [default: %(default)s]")
    _add_threads(en)
    f = sub.add_parser("figures", help="draw the README's pictures from a run folder")
    f.add_argument("run_dir", help="a run folder (holding checkpoint.npz and metrics.csv)")
    f.add_argument("--out", default=None, help="where to write the PNGs [default: <run_dir>/figures]")
    _add_threads(f)
    _add_course(sub)
    from .site import add_site_arguments   # light: Sphinx is imported only when it builds
    add_site_arguments(sub.add_parser(
        "site", help="build the course website (static HTML, offline) into OUT",
        description="Build the course website into OUT with Sphinx and MyST-NB: the README, the "
                    "method notes and teaching guide, the nine tutorials executed (fast mode "
                    "unless --full), the student exercises and the API reference. Needs the "
                    "site extra: pip install -e \".[site]\"."))
    return p


def _add_course(sub) -> None:
    c = sub.add_parser("course", help="the exercises: hand out notebooks, grade submissions",
                       description="The course's seven exercises. Hand out the student notebooks "
                                   "(solutions replaced by stubs), grade what comes back. Grading "
                                   "runs the students' code, each submission in a child process "
                                   "with a time limit.")
    cs = c.add_subparsers(dest="course_command", required=True, metavar="{student,solution,check,list}",
                          help="what to do (each has its own --help)")
    for version, what in (("student", "the notebooks to solve (each solution replaced by a stub)"),
                          ("solution", "the solved notebooks, for the instructor")):
        n = cs.add_parser(version, help=f"write into OUT {what}")
        n.add_argument("out", metavar="OUT", help="folder to write the notebooks into (created if needed)")
        n.add_argument("--overwrite", action="store_true",
                       help="replace notebooks already in OUT (the work in them is lost)")
    k = cs.add_parser("check", help="grade submissions: a table, each failure explained, a CSV",
                      description="Grade each submission (a notebook or a .py script) on every "
                                  "exercise whose functions it defines. Exit status: 0 when every "
                                  "graded exercise passes, 1 when one does not, 2 for bad usage.")
    k.add_argument("files", nargs="+", metavar="FILE",
                   help="submissions: notebooks (.ipynb), scripts (.py), or folders of them "
                        "(a folder is one student's work: each exercise graded from the file "
                        "that defines it)")
    k.add_argument("--csv", metavar="PATH", default=None,
                   help="also write the grades there (submission, exercise, status, score, mistake, message)")
    k.add_argument("--overwrite", action="store_true", help="replace an existing --csv file")
    k.add_argument("--exercise", metavar="NAME", nargs="+", action="extend", default=None,
                   help="grade only these exercises; each counts even where a submission lacks it "
                        "[default: every exercise a submission defines]")
    k.add_argument("--timeout", metavar="S", type=float, default=120.0,
                   help="seconds one submission may take to load and be graded [default: %(default)g]")
    cs.add_parser("list", help="the exercises: name, title, notebook")


def main(argv=None) -> int:
    args = make_parser().parse_args(argv)
    from .joint.checkpoint import CheckpointError
    from .joint.run import RunError
    from .joint.train import TrainingDiverged
    try:
        return _run(args)
    except KeyboardInterrupt as e:   # RunInterrupted carries its signal: 128 + its number
        return 128 + getattr(e, "signum", 2)
    except TrainingDiverged as e:
        print(f"error: training diverged at {e}", file=sys.stderr)
        return 1
    except RunError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except (ValueError, FileNotFoundError, CheckpointError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def _run(args) -> int:
    if args.command == "course":
        return _course(args)
    if args.command == "site":
        from .site import NotebookFailed, SiteBuildError, build_site
        try:
            print(build_site(args.out, fast=not args.full, tutorials=args.tutorial,
                             api=not args.no_api, jobs=args.jobs))
        except FileExistsError as e:   # a folder it did not build: usage, as for course
            print(f"error: {e}", file=sys.stderr)
            return 2
        except (NotebookFailed, SiteBuildError) as e:   # a tutorial failed, Sphinx is missing
            print(f"error: {e}", file=sys.stderr)
            return 1
        return 0
    from .threads import using_threads   # the one thread setting: op pool and BLAS
    if args.threads < 1:
        raise ValueError(f"--threads must be >= 1, got {args.threads}")
    with using_threads(args.threads):
        return _dispatch(args)


def _dispatch(args) -> int:
    from .plot import plot_training_curves   # the command line draws; training does not
    if args.command == "train":
        from .joint.train import train
        out = args.out or f"runs/{args.mode or _D.mode}-{args.dataset or _D.dataset}"
        if args.resume:   # the saved settings, with what was typed (only --epochs may differ)
            from .joint.run import saved_config
            train(_config(args, saved_config(out)), out, resume=True, curves=plot_training_curves)
        else:
            cfg = _config(args)
            _warn_unused(cfg)
            train(cfg, out, overwrite=args.overwrite, curves=plot_training_curves)
        print(f"run folder: {out}")
    elif args.command == "eval":
        from .joint.train import evaluate_checkpoint
        res = evaluate_checkpoint(args.checkpoint)
        for k in ("ann_acc", "snn_acc"):
            if k in res:
                print(f"{k[:3].upper()} test accuracy: {res[k]:.2%}")
    elif args.command == "ablation":
        from .joint.ablation import run_ablation
        for one, many in (("mode", "modes"), ("seed", "seeds")):
            if getattr(args, one) is not None:
                raise ValueError(f"ablation trains every --{many}; --{one} is for train "
                                 f"(use --{many} {getattr(args, one)})")
        run_ablation(args.modes, args.seeds, _config(args), args.out, summarize_only=args.summarize,
                     curves=plot_training_curves)
    elif args.command == "energy":
        from .energy import COST_MODELS, energy_tables, get_model, model_report, write_energy_files
        if args.model == "list":
            for name, m in COST_MODELS.items():
                print(f"{name:13s} {m.summary}")
            return 0
        model = get_model(args.model)            # an unknown name fails before measuring
        if args.checkpoint is None:
            raise ValueError("energy: give a checkpoint (a run folder or its checkpoint.npz)")
        if args.batches is not None and args.batches < 1:
            raise ValueError(f"--batches must be >= 1, got {args.batches}")
        result, extra = energy_tables(args.checkpoint, batches=args.batches), None
        if model.name != "paper":             # paper: Tables 5-6, as they always were
            from .plot import plot_energy_per_layer
            result = model_report(result, model)
            fig = plot_energy_per_layer(result)
            extra = {f"energy-{model.name}.png": lambda f: fig.savefig(f, dpi=120, format="png")}
        print(result.to_markdown())   # the tables first: a folder we cannot write loses nothing
        written, failed = write_energy_files(result, args.checkpoint, extra)
        for path in written:
            print(f"wrote {path}")
        for path, why in failed:
            print(f"error: could not write {path}: {why}", file=sys.stderr)
        return 1 if failed else 0
    elif args.command == "figures":
        from .figures import make_figures
        for p in make_figures(args.run_dir, args.out or os.path.join(args.run_dir, "figures")):
            print(p)
    return 0


def _course(args) -> int:
    from .course import exercises, notebooks, submission
    try:
        if args.course_command == "list":
            rows = [(e.name, e.title, e.notebook) for e in exercises.EXERCISES.values()]
            widths = [max((len(r[i]) for r in rows), default=0) for i in range(2)]
            for name, title, notebook in rows:
                print(f"{name:{widths[0]}}  {title:{widths[1]}}  {notebook}")
        elif args.course_command in notebooks.VERSIONS:
            for path in notebooks.write_notebooks(args.out, args.course_command, args.overwrite):
                print(path)
        else:
            if args.csv:
                submission.refuse_to_replace(args.csv, args.overwrite)
            results = submission.grade_submissions(
                args.files, args.exercise, args.timeout,
                progress=lambda p: print(f"grading {p}", file=sys.stderr))
            print(submission.grades_table(results))
            if args.csv:
                submission.write_grades_csv(args.csv, results, args.overwrite)
                print(f"wrote {args.csv}")
            return 0 if all(r.ok for r in results) else 1
    except FileExistsError as e:   # nothing was replaced: say so, as a usage error
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


def _warn_unused(cfg) -> None:
    if cfg.data_path and cfg.dataset == "digits":
        print(f"warning: --data-path {cfg.data_path} is not used: the digits data set ships with "
              "scikit-learn", file=sys.stderr)
