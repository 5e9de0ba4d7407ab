#!/usr/bin/env bash
# install-slurm-profile.sh - make `snakemake --profile slurm ...` find this repo's profiles/slurm.
#
# Snakemake looks up `--profile NAME` as ./NAME, $XDG_CONFIG_HOME/snakemake/NAME (default
# ~/.config/snakemake/NAME) and /etc/xdg/snakemake/NAME, never in profiles/. This links
# profiles/slurm (a symlink, so `git pull` updates the installed profile) into the user directory.
#
#   scripts/install-slurm-profile.sh            link (idempotent)
#   scripts/install-slurm-profile.sh --force    replace an existing, different profile (kept as .bak.<time>)
#   scripts/install-slurm-profile.sh --check    exit 0 if the link is in place, 1 otherwise
#   scripts/install-slurm-profile.sh --remove   remove the link (only if it points here)
#   PROFILE_NAME=slurm-r1 scripts/install-slurm-profile.sh   install under another name
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd -P)
src="$repo/profiles/slurm"
name=${PROFILE_NAME:-slurm}
dest_dir="${XDG_CONFIG_HOME:-$HOME/.config}/snakemake"
dest="$dest_dir/$name"
mode=${1:-install}

[ -f "$src/config.yaml" ] || { echo "install-slurm-profile: $src/config.yaml missing" >&2; exit 2; }

points_here() { [ -L "$dest" ] && [ "$(readlink -f "$dest")" = "$(readlink -f "$src")" ]; }

case "$mode" in
  --check)
    if points_here; then echo "$dest -> $src"; exit 0; fi
    echo "install-slurm-profile: $dest does not point to $src" >&2; exit 1 ;;
  --remove)
    if points_here; then rm "$dest"; echo "removed $dest"
    elif [ -e "$dest" ] || [ -L "$dest" ]; then
      echo "install-slurm-profile: $dest is not a link to $src; left alone" >&2; exit 1
    else echo "nothing to remove at $dest"; fi
    exit 0 ;;
  install|--force) ;;
  *) echo "usage: $0 [--force|--check|--remove]" >&2; exit 2 ;;
esac

mkdir -p "$dest_dir"
if points_here; then
  echo "already installed: $dest -> $src"
  exit 0
fi
if [ -e "$dest" ] || [ -L "$dest" ]; then
  if [ "$mode" != --force ]; then
    echo "install-slurm-profile: $dest exists and is not this repo's profile." >&2
    echo "  rerun with --force to move it aside, or use PROFILE_NAME=<other> and --profile <other>" >&2
    exit 1
  fi
  backup="$dest.bak.$(date +%Y%m%d%H%M%S)"
  mv "$dest" "$backup"
  echo "moved the old $dest to $backup"
fi
ln -s "$src" "$dest"
echo "installed: $dest -> $src"
echo "now: snakemake --profile $name distill_all"
