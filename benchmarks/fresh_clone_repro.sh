#!/usr/bin/env bash
# Fresh-clone benchmark of the two commands' study half: clone the committed HEAD of this
# repository next to it, `make setup`, `make repro`, then say whether the clone reproduced
# the committed outputs (`git status`) and what DVC thinks (`dvc status`).
#
#   bash benchmarks/fresh_clone_repro.sh [CLONE_DIR]    # default: ../tqa-fresh-clone
#
# The clone sits beside this checkout so that ../shared resolves as in the README. It needs
# network access to PyPI for `make setup` (as CI) and takes ~20 min on 2 idle cores.
# Prints wall seconds per step, per DVC stage (from the time each `Running stage` line
# appeared in the log, whose lines are stamped with epoch seconds) and the changed files;
# exit status = make's.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
dest=${1:-"$here/../tqa-fresh-clone"}
rm -rf "$dest"
git clone -q "$here" "$dest"
cd "$dest" || exit 1
echo "clone of $(git log --oneline -1) at $dest"
t0=$(date +%s)
make setup >setup.log 2>&1 || { echo "make setup failed: $dest/setup.log"; exit 1; }
t1=$(date +%s)
echo "make setup: $((t1 - t0)) s"
make repro 2>&1 | while IFS= read -r line; do printf '%s %s\n' "$(date +%s)" "$line"; done >repro.log
rc=${PIPESTATUS[0]}
t2=$(date +%s)
echo "make repro: $((t2 - t1)) s (exit $rc; log $dest/repro.log)"
# a stage lasts from its `Running stage` line to the next one (the last: to the end)
grep "Running stage" repro.log | awk -v end="$t2" '
  { t[NR] = $1; n[NR] = $NF; gsub(/[:\047]/, "", n[NR]) }
  END { for (i = 1; i <= NR; i++) printf "  stage %-22s %5d s\n", n[i], (i < NR ? t[i + 1] : end) - t[i] }'
changed=$(git status --short --untracked-files=no)
if [ -z "$changed" ]; then
  echo "git status: clean (the committed dvc.lock, reports/ and metrics/ were reproduced)"
else
  echo "git status: $(printf '%s\n' "$changed" | wc -l) tracked file(s) changed:"
  printf '%s\n' "$changed"
  git diff HEAD --stat -- dvc.lock | tail -1
fi
.venv/bin/dvc status 2>&1 | tail -1
exit $rc
