"""`python -m evals.generator --scenario … --kernel … --out DIR [--tar] [--filler-mb N]`.

Prints the bundle path on the first line and the ground truth as JSON after it, so a shell
script can take the path with `head -1` and a human can read what the bundle should diagnose to.
Bad arguments exit with status 2 and a one-line message, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import datetime
from pathlib import Path

from pydantic import ValidationError

from evals.generator.spec import KERNELS, SCENARIOS, BundleSpec
from evals.generator.writer import GeneratorError, write_bundle


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m evals.generator",
                                     description="Write a realistic EKS node log bundle and print its ground truth.")
    parser.add_argument("--scenario", required=True, choices=SCENARIOS)
    parser.add_argument("--kernel", default="al2023-6.1", choices=KERNELS)
    parser.add_argument("--out", required=True, type=Path, help="folder to write the bundle into")
    parser.add_argument("--tar", action="store_true", help="write eks_<id>_<time>_0.7.9.tar.gz instead of a folder")
    parser.add_argument("--filler-mb", type=float, default=0.0, help="extra benign log volume in MB")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--instance-id", default="i-0abc123def4567890")
    parser.add_argument("--instance-type", default="m5.large")
    parser.add_argument("--cluster", default="prod-east")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--az", default=None, help="availability zone (default: <region>a)")
    parser.add_argument("--incident-time", default=None, help="ISO 8601 with timezone, e.g. 2026-07-30T14:02:11Z")
    parser.add_argument("--allowance-eni", choices=("primary", "secondary"), default="primary")
    parser.add_argument("--kernel-log", choices=("dmesg", "messages_only", "both"), default="both")
    parser.add_argument("--netns-message", action="store_true")
    parser.add_argument("--printk-caller", action="store_true")
    parser.add_argument("--rotated", action="store_true")
    parser.add_argument("--red-herrings", action="store_true")
    parser.add_argument("--missing", action="append", default=[], metavar="PATH")
    parser.add_argument("--truncate", action="append", default=[], metavar="PATH")
    parser.add_argument("--dns-failures", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--table-full-lines", type=int, default=None)
    parser.add_argument("--full-table-listing", action="store_true")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing bundle of the same name")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    fields = {
        "scenario": args.scenario, "kernel": args.kernel, "seed": args.seed, "instance_id": args.instance_id,
        "instance_type": args.instance_type, "cluster": args.cluster, "region": args.region,
        "az": args.az or f"{args.region}a", "allowance_eni": args.allowance_eni, "kernel_log": args.kernel_log,
        "netns_message": args.netns_message, "printk_caller": args.printk_caller, "rotated": args.rotated,
        "red_herrings": args.red_herrings, "missing": args.missing, "truncate": args.truncate,
        "dns_failures": args.dns_failures, "filler_mb": args.filler_mb, "table_full_lines": args.table_full_lines,
        "full_table_listing": args.full_table_listing,
    }
    try:
        if args.incident_time:
            fields["incident_time"] = datetime.fromisoformat(args.incident_time.replace("Z", "+00:00"))
        spec = BundleSpec(**fields)
        result = write_bundle(spec, args.out, "tar.gz" if args.tar else "dir", overwrite=args.overwrite)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'spec'}: {e['msg']}" for e in error.errors())
        print(f"error: invalid bundle spec: {problems}", file=sys.stderr)
        return 2
    except (GeneratorError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        print(result.path)
        print(result.truth.model_dump_json(indent=2), flush=True)
    except BrokenPipeError:  # `... | head -1` closed the pipe: the path was what the reader wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


if __name__ == "__main__":
    sys.exit(main())
