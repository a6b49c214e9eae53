"""`bench audit`: label-guard leakage audit of result-only methods, guard off vs on."""
from __future__ import annotations

from pathlib import Path

from benchmark.cli import _options as O


def add_parser(sub) -> None:
    from benchmark.results.audit import DEFAULT_METHODS

    a = sub.add_parser("audit", help="label-guard leakage audit: result-only methods, guard off vs on",
                       formatter_class=O.DefaultsFormatter)
    a.add_argument("--root", type=Path,
                   help="dataset with labels visible (default: the confound-free synthetic twin of "
                        "--synth-seed)")
    a.add_argument("--method", type=O.csv_list, nargs="+", default=None,
                   help=f"result-only methods, names or comma lists (default: {' '.join(DEFAULT_METHODS)})")
    O.add_seeds(a)
    a.add_argument("--out", type=Path, default=Path("results/audit"),
                   help="runs go to <out>/audit-guard-off|on, the report to <out>/audit.md|json")
    O.add_cache(a)
    O.add_synth_seed(a)
    O.add_confounds(a, default="none",
                    help="confounds of the default twin: none isolates the label leak")
    O.add_profile(a)
    O.add_device(a)
    a.add_argument("--n-boot", type=int, default=1000, help="bootstrap replicates of the chance interval")
    a.add_argument("--no-probe", action="store_true", help="skip the label-region-only probe")
    a.set_defaults(func=command)


def command(args) -> int:
    from benchmark.results.audit import DEFAULT_METHODS, AuditConfig, audit, render_markdown

    methods = tuple(m for group in (args.method or [DEFAULT_METHODS]) for m in group)
    config = AuditConfig(methods=methods, seeds=args.seeds, root=args.root, out=args.out,
                         cache=args.cache, synth_seed=args.synth_seed,
                         synth_confounds=args.synth_confounds, profile=args.profile,
                         device=args.device, n_boot=args.n_boot, probe=not args.no_probe)
    report = audit(config)
    print(render_markdown(report))
    print(f"report: {Path(args.out) / 'audit.md'} and audit.json")
    return 0
