"""Download CIFAR-10 and/or CIFAR-100 (official python version) into the data root.

Writes <root>/cifar10/cifar-10-python.tar.gz and <root>/cifar100/cifar-100-python.tar.gz,
each checked against its published MD5. Idempotent: a file that is already there and
passes the check is kept. The root is --root, else $SPIKFORMER_DATA, else
~/.cache/spikformer_lite.

    python data_scripts/download_cifar.py --dataset cifar10
"""

import argparse

from spikformer_lite.data import data_root, download
from spikformer_lite.data.cifar import ARCHIVES


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=[*ARCHIVES, "all"], default="all")
    parser.add_argument("--root", default=None, help="data root (default: $SPIKFORMER_DATA or ~/.cache/spikformer_lite)")
    args = parser.parse_args(argv)
    for name in ARCHIVES if args.dataset == "all" else [args.dataset]:
        print(f"{name}: {download(name, args.root)}")
    print(f"data root: {data_root(args.root)}")


if __name__ == "__main__":
    main()
