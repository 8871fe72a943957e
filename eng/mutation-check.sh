#!/usr/bin/env bash
# Barrier mutation check (long; not part of CI).
#
# For each flush, drain or ordering call in the pool, heap, log and transaction code (everything under
# src/Pmem.Core except the engine in src/Pmem.Core/Memory), removes that one call in a scratch copy of the
# repository, builds, runs the crash tests, and records whether they noticed ("killed") or not ("survived").
# A surviving mutant is a call no test needs: either it is redundant, or a requirement nobody checks.
#
# Usage:
#   eng/mutation-check.sh --list                 list the call sites with their numbers, change nothing
#   eng/mutation-check.sh [options]              run the check
# Options:
#   --sites 3,7,12-15   only these sites (numbers from --list); default: all
#   --report FILE       where the report goes (default: mutation-report.md in the current directory)
#   --tests "ARGS"      test filter for the xUnit runner (default: "-namespace Pmem.Tests.Crash")
#   --timeout SECONDS   a test run taking longer counts as killed (a hang); default 1800
#   --head              mutate HEAD as committed (default: the working tree, uncommitted changes included)
#   --keep              keep the scratch copy (its path is printed)
#
# What counts as a site (one mutant each), found by pattern, so files may move between folders:
#   a statement that is only a call of Flush / Drain / Persist / FlushDeferred* / FlushTargets / Finish (a deferred
#     line flush) / Interlocked.MemoryBarrier* / Volatile.WriteBarrier: replaced by an empty block;
#   an expression-bodied member whose body is such a call: the body becomes an empty block;
#   WriteDurable(…) and WriteAndFlush(…) become Write(…) (the flush and drain go); WriteAndPersist(…) becomes
#     WriteAndFlush(…) (the drain goes);
#   PmemCopyFlags.NoDrain in a Copy / Fill / Move becomes PmemCopyFlags.NoFlush (the copy is no longer flushed).
# Comment lines are skipped. PMEM_CRASH_CAMPAIGN is unset for the test runs (the normal campaign lengths).
set -uo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
sites_arg="" report="$PWD/mutation-report.md" tests="-namespace Pmem.Tests.Crash" timeout=1800 head=0 keep=0 list=0
while [ $# -gt 0 ]; do
  case "$1" in
    --list) list=1 ;;
    --sites) sites_arg=$2; shift ;;
    --report) report=$(realpath -m "$2"); shift ;;
    --tests) tests=$2; shift ;;
    --timeout) timeout=$2; shift ;;
    --head) head=1 ;;
    --keep) keep=1 ;;
    -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

tool=$(mktemp --suffix=.py)
cleanup_tool() { rm -f "$tool"; }
trap cleanup_tool EXIT
cat > "$tool" <<'PY'
import os, re, sys

CALL = r'(?:[A-Za-z_][\w.]*\.)?(?:Flush|Drain|Persist|FlushDeferred\w*|FlushTargets|Finish|MemoryBarrier|MemoryBarrierProcessWide|WriteBarrier)\([^;]*\)'
STATEMENT = re.compile(r'^(\s*)(' + CALL + r');(\s*//.*)?$')
BODY = re.compile(r'^(.*\)\s*)=>\s*(' + CALL + r');(\s*//.*)?$')
WIDE = re.compile(r'\b(WriteDurable|WriteAndFlush|WriteAndPersist)\(')
NODRAIN = re.compile(r'\.(Copy|Fill|Move)\(.*PmemCopyFlags\.NoDrain')
ORDERING = re.compile(r'\b(Interlocked\.MemoryBarrier\w*|Volatile\.WriteBarrier)\(')
NAMED = re.compile(r'\.(Flush|Drain|Persist|FlushDeferred\w*|FlushTargets|Finish)\(')

def sites(root):
    base = os.path.join(root, 'src', 'Pmem.Core')
    found = []
    for directory, subdirs, files in os.walk(base):
        rel = os.path.relpath(directory, base)
        if rel.split(os.sep)[0] in ('Memory', 'bin', 'obj'):
            subdirs[:] = []
            continue
        subdirs.sort()
        for name in sorted(files):
            if not name.endswith('.cs'):
                continue
            path = os.path.join(directory, name)
            with open(path, encoding='utf-8') as f:
                lines = f.read().split('\n')
            for number, line in enumerate(lines, 1):
                stripped = line.strip()
                if stripped.startswith('//') or stripped.startswith('*') or stripped.startswith('/*'):
                    continue
                kind = None
                if STATEMENT.match(line) and (NAMED.search(line) or ORDERING.search(line)):
                    kind = 'remove-call'
                elif BODY.match(line) and (NAMED.search(line) or ORDERING.search(line)):
                    kind = 'empty-body'
                elif WIDE.search(line):
                    kind = 'weaken-write'
                elif NODRAIN.search(line):
                    kind = 'no-flush-copy'
                if kind:
                    found.append((os.path.relpath(path, root), number, kind, stripped))
    return found

def mutate(line, kind):
    if kind == 'remove-call':
        m = STATEMENT.match(line)
        return m.group(1) + '{ } // MUTANT: removed ' + m.group(2) + ';'
    if kind == 'empty-body':
        m = BODY.match(line)
        return m.group(1) + '{ } // MUTANT: removed ' + m.group(2) + ';'
    if kind == 'weaken-write':
        m = WIDE.search(line)
        to = {'WriteDurable': 'Write', 'WriteAndFlush': 'Write', 'WriteAndPersist': 'WriteAndFlush'}[m.group(1)]
        return line[:m.start(1)] + to + line[m.end(1):] + ' // MUTANT: ' + m.group(1) + ' -> ' + to
    if kind == 'no-flush-copy':
        return line.replace('PmemCopyFlags.NoDrain', 'PmemCopyFlags.NoFlush', 1) + ' // MUTANT: NoDrain -> NoFlush'
    raise ValueError(kind)

def main():
    command, root = sys.argv[1], sys.argv[2]
    found = sites(root)
    if command == 'list':
        for i, (path, number, kind, text) in enumerate(found, 1):
            print(f'{i}\t{path}:{number}\t{kind}\t{text}')
    elif command == 'apply':
        i = int(sys.argv[3])
        path, number, kind, text = found[i - 1]
        full = os.path.join(root, path)
        with open(full, encoding='utf-8') as f:
            lines = f.read().split('\n')
        lines[number - 1] = mutate(lines[number - 1], kind)
        with open(full, 'w', encoding='utf-8') as f:
            f.write('\n'.join(lines))
        print(f'{path}\t{number}\t{kind}\t{text}')
    elif command == 'count':
        print(len(found))

main()
PY

if [ "$list" -eq 1 ]; then
  python3 "$tool" list "$repo"
  exit 0
fi

# The sites to run: ranges and numbers from --sites, or all.
total=$(python3 "$tool" count "$repo")
selected=()
if [ -z "$sites_arg" ]; then
  selected=($(seq 1 "$total"))
else
  IFS=',' read -ra parts <<< "$sites_arg"
  for part in "${parts[@]}"; do
    if [[ "$part" == *-* ]]; then selected+=($(seq "${part%-*}" "${part#*-}")); else selected+=("$part"); fi
  done
fi

# The scratch copy: a detached worktree of HEAD, overlaid with the working tree's files unless --head.
scratch=$(mktemp -d -t pmem-mutation-XXXXXX)
work="$scratch/repo"
git -C "$repo" worktree add --detach --quiet "$work" HEAD || { echo "git worktree add failed" >&2; exit 1; }
cleanup() {
  cleanup_tool
  if [ "$keep" -eq 1 ]; then
    echo "scratch copy kept at $work (remove it with: git -C $repo worktree remove --force $work)"
  else
    git -C "$repo" worktree remove --force "$work" 2>/dev/null
    rm -rf "$scratch"
  fi
}
trap cleanup EXIT
if [ "$head" -eq 0 ]; then
  # Tracked files as they are now (modified or not) and untracked ones, without build output.
  (cd "$repo" && git ls-files -z --cached --others --exclude-standard) \
    | grep -zv -E '(^|/)(bin|obj|TestResults)/' \
    | while IFS= read -r -d '' file; do [ -f "$repo/$file" ] && printf '%s\0' "$file"; done \
    | tar -C "$repo" --null -T - -cf - | tar -C "$work" -xf -
  (cd "$repo" && git ls-files -z --deleted) | (cd "$work" && xargs -0 -r rm -f)
fi

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
unset PMEM_CRASH_CAMPAIGN
runner="$work/tests/Pmem.Core.Tests/bin/Release/net10.0/Pmem.Core.Tests"

build() { (cd "$work" && dotnet build -c Release tests/Pmem.Core.Tests -nodeReuse:false "$@" > "$scratch/build.log" 2>&1); }
run_tests() {
  # shellcheck disable=SC2086 # the filter is several arguments
  (cd "$work" && timeout "$timeout" "$runner" $tests -noColor -noLogo > "$scratch/test.log" 2>&1)
}

echo "building the unmutated copy in $work"
if ! build; then
  tail -n 30 "$scratch/build.log" >&2
  echo "the unmutated copy does not build" >&2
  exit 1
fi

echo "running the tests on the unmutated copy ($tests)"
start=$(date +%s)
if ! run_tests; then
  grep -E '\[FAIL\]' "$scratch/test.log" >&2
  echo "the tests fail without any mutant: every mutant would look killed" >&2
  exit 1
fi
baseline=$(( $(date +%s) - start ))
echo "baseline: passed in ${baseline}s; ${#selected[@]} mutants to run"

{
  echo "# Barrier mutation check"
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git -C "$work" rev-parse --short HEAD)$([ "$head" -eq 0 ] && echo ' + working tree')"
  echo "- tests: \`$tests\` (PMEM_CRASH_CAMPAIGN unset), baseline ${baseline}s, timeout ${timeout}s"
  echo "- sites run: ${#selected[@]} of $total"
  echo
  echo "| # | site | mutation | code | result | seconds | first failing tests |"
  echo "|---:|---|---|---|---|---:|---|"
} > "$report"

killed=0 survived=0 broken=0
for site in "${selected[@]}"; do
  file=$(python3 "$tool" list "$work" | awk -F'\t' -v n="$site" '$1 == n { print $2 }')
  if [ -z "$file" ]; then echo "no site $site" >&2; continue; fi
  path=${file%:*}
  cp "$work/$path" "$scratch/original.cs"
  info=$(python3 "$tool" apply "$work" "$site")
  kind=$(echo "$info" | cut -f3)
  code=$(echo "$info" | cut -f4- | sed 's/|/\\|/g')
  start=$(date +%s)
  # A removed call may leave a primary-constructor parameter unread (CS9113): a warning, not what is being tested.
  if ! build --no-restore -p:TreatWarningsAsErrors=false; then
    result="build failed"; failing=$(grep -m1 -oE 'error [A-Z]+[0-9]+: [^[]*' "$scratch/build.log" | sed 's/|/\\|/g')
    broken=$((broken + 1))
  elif run_tests; then
    result="SURVIVED"; failing=""
    survived=$((survived + 1))
  else
    code_rc=$?
    if [ "$code_rc" -eq 124 ]; then result="killed (timeout)"; else result="killed"; fi
    failing=$(grep -E '\[FAIL\]' "$scratch/test.log" | sed -E 's/\x1b\[[0-9;]*m//g; s/^[[:space:]]*//; s/ \[FAIL\]//; s/^Pmem\.Tests\.//' | head -n 3 | paste -sd ';' | sed 's/;/; /g')
    killed=$((killed + 1))
  fi
  seconds=$(( $(date +%s) - start ))
  cp "$scratch/original.cs" "$work/$path"
  echo "| $site | \`$file\` | $kind | \`$code\` | $result | $seconds | $failing |" >> "$report"
  echo "site $site ($file, $kind): $result in ${seconds}s"
done

{
  echo
  echo "**${killed} killed, ${survived} survived, ${broken} did not build** (of ${#selected[@]} run)."
} >> "$report"
echo "${killed} killed, ${survived} survived, ${broken} did not build; report: $report"
