#!/usr/bin/env bash
# Link the repository's slurm profile to ~/.config/snakemake/slurm, so that a bare
# `snakemake --profile slurm` finds it from the repository root (snakemake looks for a named
# profile only in the working directory and ~/.config/snakemake). Refuses to replace a different
# existing profile.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
source="$repo/workflow/profiles/slurm"
target="${XDG_CONFIG_HOME:-$HOME/.config}/snakemake/slurm"
if [ -L "$target" ] && [ "$(readlink -f "$target")" = "$(readlink -f "$source")" ]; then
    echo "already linked: $target -> $source"
    exit 0
fi
if [ -e "$target" ] || [ -L "$target" ]; then
    echo "error: $target exists and is not this repository's profile; move it away first" >&2
    exit 1
fi
mkdir -p "$(dirname "$target")"
ln -s "$source" "$target"
echo "linked: $target -> $source"
