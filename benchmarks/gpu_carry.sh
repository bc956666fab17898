#!/usr/bin/env bash
# What a lent GPU machine needs and lacks, gathered here (on the CPU machine, PyPI reachable) before the
# device run: benchmarks/gpu_check.sh installs it there without a network.
#
#   bash benchmarks/gpu_carry.sh        (make gpu-carry)
#
# .whl/    the cp312 manylinux wheels of the runtime dependencies that a bare machine with torch, triton,
#          numba and pytest lacks, at the versions pinned in requirements-lock.txt: SpikingJelly (the
#          benchmark's reference) and what it imports at import time (loguru, h5py), kornia and kornia_rs
#          (the paper recipe's augmentation), tqdm and pillow (the training CLI and the CIFAR JPEG decoder)
# .carry/  data/cifar10/cifar10_jpeg.npz, from the first of $SPIKFORMER_DATA, ../shared/data and
#          ~/.cache/spikformer_lite that has it
#
# Then prints the size of .whl + .carry + the working tree the device run copies (tracked files and
# untracked ones git does not ignore), and fails if it passes 60 MiB (the device run carries 64 MiB).
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES="spikingjelly loguru h5py kornia kornia_rs tqdm pillow"
LIMIT_MIB=60
NPZ=cifar10/cifar10_jpeg.npz
DATA=""
for root in ${SPIKFORMER_DATA:-} ../shared/data "$HOME/.cache/spikformer_lite"; do
    [ -f "$root/$NPZ" ] && { DATA=$root; break; }
done
[ -n "$DATA" ] || { echo "error: no $NPZ under \$SPIKFORMER_DATA, ../shared/data or ~/.cache/spikformer_lite" >&2; exit 1; }

rm -rf .whl .carry  # .carry: also any CIFAR cache a local dry run of gpu_check.sh decoded into it
mkdir -p .whl .carry/data/cifar10
for name in $PACKAGES; do
    pin=$(grep -i "^${name}==" requirements-lock.txt) || { echo "error: $name is not pinned in requirements-lock.txt" >&2; exit 1; }
    python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl "$pin" \
        || { echo "error: no cp312 manylinux (or pure-python) wheel of $pin" >&2; exit 1; }
done
cp -f "$DATA/$NPZ" .carry/data/cifar10/

ls -l .whl .carry/data/cifar10
whl=$(du -sb .whl | cut -f1)
carry=$(du -sb .carry | cut -f1)
tree=$(git ls-files -z --cached --others --exclude-standard | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1)
total=$((whl + carry + tree))
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
echo ".whl $(mib "$whl") + .carry $(mib "$carry") + working tree $(mib "$tree") = $(mib "$total") (limit ${LIMIT_MIB} MiB)"
if [ "$total" -gt $((LIMIT_MIB * 1048576)) ]; then
    echo "error: over ${LIMIT_MIB} MiB" >&2
    exit 1
fi
