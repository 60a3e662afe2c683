"""The plugin at aprender's scale: every row of the table of issue "At aprender's scale".

Generates the aprender-shaped corpus (scripts/gen_corpus.py: 1,950 contract files, 8,930
falsifiers, one trivial test bound to each by qualified id) in a temporary project and
prints, from one run, each mode's wall time as a ratio to `pytest -p no:falsify` measured
in the same rounds (rounds interleave the variants, so load drift hits all alike), then
`falsify validate`'s warm time and peak memory. A goal is judged on the ratio of the
fastest of `--repeat` runs of each side (as `timeit` and bench_plugin.py do: on a shared
machine, noise only ever adds time, so the minimum is the run closest to the work's own
cost); the ratio of medians is printed beside it:

| mode | goal |
|---|---|
| plugin loaded, no `--falsify` | <= 1.03x |
| `--falsify=report` | <= 1.08x |
| `--falsify=check` | <= 1.10x |
| `--falsify` write, 1,700 files changed | <= 1.25x |
| `falsify validate` | <= 0.4 s warm, <= 80 MB |

Runs are warm: one untimed run of each variant first fills pytest's cache (the plugin's
parse cache lives there, like pytest's own). The write row restores, before each timed
run, a contracts directory in which 1,700 files will change (the other 250 already hold
what the run derives) and the pytest cache a run on it left; restoring gives every file
a new mtime, as a `git checkout` does, so the cache is checked by content. The check row
runs on the derived contracts, so it passes.

Usage: python benchmarks/bench_corpus.py [--files 1950] [--changed 1700] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import gen_corpus  # noqa: E402
from bench_plugin import compile_plugin  # noqa: E402

GOALS = {"plain": 1.03, "report": 1.08, "check": 1.10, "write": 1.25}
VALIDATE_GOAL_S, VALIDATE_GOAL_MB = 0.4, 80


def make_project(root: Path, files: int, seed: int) -> None:
    ini = (gen_corpus.CORPUS / "aprender.ini").read_text(encoding="utf-8")
    # The falsifier marker registered in the ini, so the no-plugin baseline is not slowed
    # down by 8,930 unknown-marker warnings.
    (root / "pytest.ini").write_text(ini + "markers =\n    falsifier: bound falsifier\n",
                                     encoding="utf-8")
    gen_corpus.generate(root / "contracts", files, seed, tests_dir=root / "tests")


def _child_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def pytest_run(root: Path, *args: str, cpu: list[float] | None = None) -> float:
    """Wall seconds of one pytest run; its CPU seconds (user+sys) appended to `cpu`."""
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:xdist", *args]
    c0, t0 = _child_cpu(), time.perf_counter()
    out = subprocess.run(cmd, cwd=root, capture_output=True, text=True, check=False)
    dt = time.perf_counter() - t0
    if cpu is not None:
        cpu.append(_child_cpu() - c0)
    if out.returncode not in (0,):
        raise SystemExit(f"{' '.join(args)}: pytest exited {out.returncode}:\n"
                         f"{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return dt


def instructions(root: Path, *args: str) -> int:
    """Instructions one pytest run executes, counted by valgrind's callgrind (~50x slower
    than a plain run): unlike times on a shared machine, the count is the same from one
    run to the next, so a small change to the plugin shows in it."""
    cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable,
           "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:xdist", *args]
    out = subprocess.run(cmd, cwd=root, capture_output=True, text=True, check=False)
    found = re.findall(r"Collected : (\d+)", out.stderr)
    if out.returncode != 0 or not found:
        raise SystemExit(f"{' '.join(args)}: callgrind run exited {out.returncode}:\n"
                         f"{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    return int(found[-1])


def validate_run(root: Path) -> tuple[float, float]:
    """(wall seconds, peak RSS MB) of `falsify validate`, measured by a parent that does
    nothing else (so the peak is the command's own)."""
    probe = ("import resource, subprocess, sys, time; t0 = time.perf_counter(); "
             "rc = subprocess.call([sys.executable, '-m', 'pytest_falsify', 'validate'], "
             "stdout=subprocess.DEVNULL); dt = time.perf_counter() - t0; "
             "print(rc, dt, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", probe], cwd=root, capture_output=True,
                         text=True, check=True).stdout.split()
    if out[0] != "0":
        raise SystemExit(f"falsify validate exited {out[0]}")
    return float(out[1]), int(out[2]) / 1024


def snapshot(src: Path, dest: Path) -> None:
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(src, dest, copy_function=shutil.copy2)


def restore(snap: Path, contracts: Path) -> None:
    """Put the snapshot back (new mtimes, as after a `git checkout`), flushed to disk like
    files that have sat in a checkout (replacing a file whose blocks are on disk costs
    more than replacing one still in the page cache)."""
    shutil.rmtree(contracts)
    shutil.copytree(snap, contracts)
    os.sync()


def mixed_state(fresh: Path, derived: Path, changed: int, dest: Path) -> int:
    """`dest` = `derived`, except `changed` files that the write run will change, taken from
    `fresh`; returns how many files differ between the two."""
    snapshot(derived, dest)
    differ = [p.relative_to(fresh) for p in sorted(fresh.rglob("*.yaml"))
              if p.read_bytes() != (derived / p.relative_to(fresh)).read_bytes()]
    for rel in differ[:changed]:
        shutil.copy2(fresh / rel, dest / rel)
    return min(changed, len(differ))


def count_instructions(root: Path, variants: dict, todo: Path, cache_todo: Path,
                       derived: Path, fp: tuple) -> None:
    """The rows' instruction counts (one callgrind run each, warm as the timed runs), as
    ratios to the base run's: a proxy for the CPU ratio without the machine's noise."""
    print("instructions (valgrind callgrind, one run each; the same count every run):")
    pytest_run(root, "--falsify=report", *fp)  # warm, as the timed rows are
    counts = {name: instructions(root, *args) for name, args in variants.items()}
    restore(todo, root / "contracts")
    restore(cache_todo, root / ".pytest_cache")
    counts["write"] = instructions(root, "--falsify", *fp)
    restore(derived, root / "contracts")
    pytest_run(root, "--falsify=report", *fp)
    base = counts["base"]
    print(f"  {'-p no:falsify':<38} {base / 1e9:8.2f} G")
    for k in ("plain", "report", "check", "write"):
        r = counts[k] / base
        print(f"  {k:<38} {counts[k] / 1e9:8.2f} G {r:7.3f}x  <= {GOALS[k]:.2f}x "
              f"{'met' if r <= GOALS[k] else 'NOT met'} (instructions)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=gen_corpus.APRENDER_FILES)
    ap.add_argument("--changed", type=int, default=1700, help="files the write row changes")
    ap.add_argument("--repeat", type=int, default=5,
                    help="rounds (the fastest run of each side is compared; medians beside)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--fingerprint", choices=("auto", "off"), default="auto",
                    help="falsify_fingerprint for the plugin runs: auto (the default: report and "
                         "write modes trace each bound test with coverage.py) or off")
    ap.add_argument("--instructions", action="store_true",
                    help="also count each row's instructions with valgrind's callgrind, one run "
                         "of each (deterministic, unlike times; ~3 min a run at this scale)")
    a = ap.parse_args()
    if a.instructions and shutil.which("valgrind") is None:
        ap.error("--instructions needs valgrind on PATH (apt install valgrind)")
    fp = ("-o", f"falsify_fingerprint={a.fingerprint}")
    with tempfile.TemporaryDirectory(prefix="falsify-corpus-") as tmp:
        root = Path(tmp) / "project"
        root.mkdir()
        make_project(root, a.files, a.seed)
        contracts = root / "contracts"
        n_tests = sum(1 for _ in (root / "tests").glob("test_*.py"))
        compiled = compile_plugin()
        fresh, derived, todo = Path(tmp) / "fresh", Path(tmp) / "derived", Path(tmp) / "todo"
        snapshot(contracts, fresh)
        t0 = time.perf_counter()
        pytest_run(root, "--falsify")  # derive every status once: the committed state
        first_write = time.perf_counter() - t0
        snapshot(contracts, derived)
        changed = mixed_state(fresh, derived, a.changed, todo)
        n_claims = sum(len(gen_corpus._ID_LINE.findall(p.read_text(encoding="utf-8")))
                       for p in fresh.rglob("*.yaml"))
        print(f"aprender-shaped corpus: {a.files} contract files, {n_claims} falsifiers, one "
              f"bound test each ({n_tests} test modules); python {sys.version.split()[0]}, "
              f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, "
              f"bytecode cache {'off (PYTHONDONTWRITEBYTECODE)' if sys.flags.dont_write_bytecode else 'on'}; "
              f"{compiled}")
        print(f"(first derivation of every status, cold: {first_write:.1f} s)")
        variants = {
            "base": ("-p", "no:falsify"),
            "plain": fp,
            "report": ("--falsify=report", *fp),
            "check": ("--falsify=check", *fp),
        }
        # Warm-up: fill pytest's cache (and the plugin's parse cache in it) for the state
        # each row starts from. The write row starts from `todo` with the cache a run on
        # `todo` left (the files a run rewrites are usually unchanged since the last run).
        cache = root / ".pytest_cache"
        restore(todo, contracts)
        pytest_run(root, "--falsify=report")
        cache_todo = Path(tmp) / "cache-todo"
        snapshot(cache, cache_todo)
        restore(derived, contracts)
        for args in variants.values():
            pytest_run(root, *args)
        names = (*variants, "write", "write_base")
        times: dict[str, list[float]] = {k: [] for k in names}
        cpus: dict[str, list[float]] = {k: [] for k in names}
        for _ in range(a.repeat):
            for name, args in variants.items():
                times[name].append(pytest_run(root, *args, cpu=cpus[name]))
            times["write_base"].append(pytest_run(root, "-p", "no:falsify", cpu=cpus["write_base"]))
            restore(todo, contracts)
            restore(cache_todo, cache)
            times["write"].append(pytest_run(root, "--falsify", *fp, cpu=cpus["write"]))
            restore(derived, contracts)
            # Untimed: the restore gave every file a new mtime, so the next run would check
            # the whole cache by content (read and hash 1,950 files) and save it again; the
            # rows are warm runs, as in the first round.
            pytest_run(root, "--falsify=report", *fp)
        low = {k: min(v) for k, v in times.items()}
        clow = {k: min(v) for k, v in cpus.items()}
        med = {k: statistics.median(v) for k, v in times.items()}
        rows = [("plugin loaded, no --falsify", "plain", "base"),
                ("--falsify=report", "report", "base"),
                ("--falsify=check", "check", "base"),
                (f"--falsify write, {changed} files changed", "write", "write_base")]
        # Wall time is the figure a user sees; on a shared machine it also holds waits for
        # the CPU, so the CPU time (user+sys of the pytest process) is printed beside it.
        print(f"{'mode (fastest runs)':<40} {'no plugin':>10} {'plugin':>9} {'ratio':>8} "
              f"{'cpu ratio':>10} {'medians':>8}  goal")
        for label, k, b in rows:
            r, cr, mr = low[k] / low[b], clow[k] / clow[b], med[k] / med[b]
            ok = "met" if r <= GOALS[k] else "NOT met"
            print(f"{label:<40} {low[b]:9.2f}s {low[k]:8.2f}s {r:7.3f}x {cr:9.3f}x {mr:7.3f}x  "
                  f"<= {GOALS[k]:.2f}x {ok} (wall)")
        if a.instructions:
            count_instructions(root, variants, todo, cache_todo, derived, fp)
        validate_run(root)  # warm-up
        v = [validate_run(root) for _ in range(a.repeat)]
        vt, vm = statistics.median(x[0] for x in v), max(x[1] for x in v)
        ok = "met" if vt <= VALIDATE_GOAL_S and vm <= VALIDATE_GOAL_MB else "NOT met"
        print(f"{'falsify validate (warm)':<40} {vt:9.2f}s {vm:7.0f} MB peak   "
              f"<= {VALIDATE_GOAL_S} s, <= {VALIDATE_GOAL_MB} MB {ok}")
        print(f"{a.repeat} rounds, falsify_fingerprint = {a.fingerprint}; "
              f"load average now {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
