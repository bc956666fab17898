"""Download DVS128 Gesture and/or CIFAR10-DVS with tonic into the data root.

Writes <root>/DVSGesture/ (ibmGestureTrain/, ibmGestureTest/ and their archives) and
<root>/CIFAR10DVS/ (one folder of .aedat4 recordings per class). tonic checks each archive's
MD5 and skips what is already there. The root is --root, else $SPIKFORMER_DATA, else
~/.cache/spikformer_lite. Reading CIFAR10-DVS needs the `aedat` package (pip install aedat).

    python data_scripts/download_dvs.py --dataset dvsgesture
"""

import argparse


def main(argv=None):
    import tonic

    from spikformer_lite.data import data_root

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=["dvsgesture", "cifar10dvs", "all"], default="all")
    parser.add_argument("--root", default=None, help="data root (default: $SPIKFORMER_DATA or ~/.cache/spikformer_lite)")
    args = parser.parse_args(argv)
    root = str(data_root(args.root))
    if args.dataset in ("dvsgesture", "all"):
        for train in (True, False):
            ds = tonic.datasets.DVSGesture(save_to=root, train=train)  # downloads if missing
            print(f"DVS128 Gesture {'train' if train else 'test'}: {len(ds)} recordings")
    if args.dataset in ("cifar10dvs", "all"):
        ds = tonic.datasets.CIFAR10DVS(save_to=root)
        print(f"CIFAR10-DVS: {len(ds)} recordings")
    print(f"data root: {root}")


if __name__ == "__main__":
    main()
