"""Generate the cases of every class, run them under caps, classify, and tabulate."""

from __future__ import annotations

import itertools
import random
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from . import gen_contracts, gen_gguf, gen_hf, gen_reports, gen_rewrites
from .case import BAD, COLUMNS, Case, classify
from .runner import Task, run_all

#: class -> (generator of cases, inputs in the short run). The long run is x LONG_FACTOR.
CLASSES = {
    "contracts": (gen_contracts.cases, 70),
    "rewrites": (gen_rewrites.cases, 24),
    "reports": (gen_reports.cases, 40),
    "gguf": (gen_gguf.cases, 80),
    "safetensors": (gen_hf.safetensors_cases, 40),
    "config.json": (gen_hf.config_cases, 40),
}
LONG_FACTOR = 12


@dataclass
class Defect:
    cls: str
    name: str
    entry: str
    column: str
    why: str
    workdir: Path


def sizes(scale: int, n: int | None, only: list[str] | None) -> dict[str, int]:
    """Inputs per class: `n` each, or the short run's count times `scale`."""
    names = only or list(CLASSES)
    return {c: n if n is not None else CLASSES[c][1] * scale for c in names}


def _cases(rng: random.Random, counts: dict[str, int]) -> Iterator[Case]:
    # One generator per class, seeded from the run's seed, so a class's inputs do not
    # change when another class is added, removed or resized.
    gens = [CLASSES[c][0](random.Random(f"{rng.random()}:{c}"), k) for c, k in counts.items()]
    for batch in itertools.zip_longest(*gens):  # interleaved: slow classes spread out
        yield from (c for c in batch if c is not None)


def ignore_special(directory: str, names: list[str]) -> list[str]:
    """What copytree must skip: FIFOs and devices a case left behind (opening one would
    block) and files over 64 MiB (the 8 GB sparse inputs would be copied in full)."""
    out = []
    for n in names:
        p = Path(directory) / n
        if p.is_symlink() or not p.exists():
            continue
        if not (p.is_file() or p.is_dir()) or (p.is_file() and p.stat().st_size > 64 << 20):
            out.append(n)
    return out


def run(rng: random.Random, counts: dict[str, int], work: Path, jobs: int,
        progress: bool = True) -> tuple[dict[str, dict[str, int]], list[Defect]]:
    """({class: {column: count, 'tried': n}}, defects); defect directories stay in `work`."""
    table = {c: dict.fromkeys(("tried",) + COLUMNS, 0) for c in counts}
    defects: list[Defect] = []
    cases: dict[int, Case] = {}

    def tasks() -> Iterator[Task]:
        for i, case in enumerate(_cases(rng, counts)):
            d = work / f"{i:05d}-{case.cls}"
            d.mkdir()
            case.make(d)
            cases[i] = case
            yield Task(i, case.call, d, case.time_s, case.mem_mib)

    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=sum(counts.values()), unit="input", desc="fuzz", leave=False)
    for key, result in run_all(tasks(), jobs):
        case = cases.pop(key)
        d = work / f"{key:05d}-{case.cls}"
        column, why = classify(case, result, d)
        row = table[case.cls]
        row["tried"] += 1
        row[column] += 1
        if column in BAD:
            defects.append(Defect(case.cls, case.name, case.entry, column, why, d))
        else:
            _remove(d)
        if bar is not None:
            bar.update()
    if bar is not None:
        bar.close()
    defects.sort(key=lambda x: (x.cls, x.column, x.name))
    return table, defects


def _remove(d: Path) -> None:
    for p in [d, *d.rglob("*")] if d.exists() else []:
        if p.is_dir() and not p.is_symlink():
            p.chmod(0o755)  # a case may have made a directory unreadable
    shutil.rmtree(d, ignore_errors=True)


def format_table(table: dict[str, dict[str, int]]) -> list[str]:
    """The table as Markdown rows: class | tried | each column, then the total."""
    cols = ("tried",) + COLUMNS
    total = {c: sum(r[c] for r in table.values()) for c in cols}
    rows = [("class", *cols), *((name, *(str(r[c]) for c in cols)) for name, r in table.items()),
            ("total", *(str(total[c]) for c in cols))]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for k, r in enumerate(rows):
        out.append("| " + " | ".join(v.ljust(w) if i == 0 else v.rjust(w)
                                     for i, (v, w) in enumerate(zip(r, widths, strict=True))) + " |")
        if k == 0:
            out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return out
