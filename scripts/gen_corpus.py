"""Scale the aprender-shaped fixture corpus (tests/corpus/aprender/) up to aprender's size.

Each generated contract is one of the corpus files with its falsifier block re-sized:
the entries of the first block holding ids (`falsification_tests`, `gates` or
`falsification`) are repeated cyclically, text for text, with fresh ids, so every shape
of the corpus (foreign status words, nested statuses, changelog styles, version places,
stubs, given/when/then prose) appears at scale exactly as written there. Pairs of files
share a stem in two folders, and ids repeat across contracts as they do in aprender, so
a marker must use qualified ids (`KEY::ID`). The corpus's non-contract files (comment-only
`_schema.yaml`, a JSON schema) are copied into every folder.

Defaults reproduce aprender's scale: 1,950 files with 8,930 falsifiers in all.

    python scripts/gen_corpus.py /tmp/apr/contracts --files 1950 --tests /tmp/apr/tests

`--tests DIR` also writes trivial tests, one per falsifier, each bound by qualified id;
`--errors` adds the true errors of tests/corpus/aprender-errors/ once.
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import sys
from pathlib import Path

import yaml

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "corpus"
TEMPLATES = CORPUS / "aprender"
ERRORS = CORPUS / "aprender-errors"
#: aprender's figures (issue "At aprender's scale").
APRENDER_FILES = 1950
APRENDER_FALSIFIERS = 8930
FOLDERS = ("", "kernels", "reference", "training", "attention", "formats")
ID_BLOCKS = ("falsification_tests", "gates", "falsification")
_ID_LINE = re.compile(r"^(\s*-?\s*id:\s*)(\S+)(.*)$", re.M)
TESTS_PER_MODULE = 200


def _lines_of(node: yaml.Node) -> tuple[int, int]:
    end = node.end_mark.line + (1 if node.end_mark.column else 0)
    return node.start_mark.line, end


def _split(text: str) -> tuple[list[str], list[str], list[str]] | None:
    """(head, entries, tail) of the first block whose items carry ids; None if none."""
    root = yaml.compose(text)
    if not isinstance(root, yaml.MappingNode):
        return None
    lines = text.splitlines(keepends=True)
    for knode, vnode in root.value:
        if knode.value not in ID_BLOCKS or not isinstance(vnode, yaml.SequenceNode):
            continue
        items = [n for n in vnode.value if isinstance(n, yaml.MappingNode)
                 and any(k.value == "id" for k, _ in n.value)]
        if not items or vnode.flow_style or len(items) != len(vnode.value):
            continue
        starts = [n.start_mark.line for n in items]
        _, end = _lines_of(vnode)
        bounds = list(zip(starts, starts[1:] + [end], strict=True))
        entries = ["".join(lines[a:b]) for a, b in bounds]
        return lines[:starts[0]], entries, lines[end:]
    return None


def _templates() -> tuple[list[tuple[Path, tuple]], list[Path]]:
    contracts, others = [], []
    for p in sorted(TEMPLATES.rglob("*.yaml")):
        rel = p.relative_to(TEMPLATES)
        if rel.parts[0] == "drafts":  # excluded in the corpus's ini: not a template
            continue
        parts = _split(p.read_text(encoding="utf-8"))
        (contracts if parts else others).append((p, parts) if parts else p)
    return contracts, others


def _resize(parts: tuple, n: int) -> str:
    head, entries, tail = parts
    out = []
    for j in range(n):
        text = entries[j % len(entries)]
        m = _ID_LINE.search(text)
        base = re.sub(r"-\d+$", "", m.group(2)) if m else "FALSIFY-GEN"
        if m:
            text = text[:m.start(2)] + f"{base}-{j + 1:03d}" + text[m.end(2):]
        if not text.endswith("\n"):
            text += "\n"
        out.append(text)
    return "".join(head) + "".join(out) + "".join(tail)


def _counts(files: int, mean: float, rng: random.Random) -> list[int]:
    """Falsifiers per file: at least 1, at most 2*mean, summing to round(files * mean)."""
    total = max(files, round(files * mean))
    cap = max(1, int(2 * mean))
    counts = [1] * files
    left = total - files
    while left > 0:
        i = rng.randrange(files)
        if counts[i] < cap:
            counts[i] += 1
            left -= 1
    return counts


def generate(dest: Path, files: int, seed: int = 0,
             falsifiers_per_file: float = APRENDER_FALSIFIERS / APRENDER_FILES,
             errors: bool = False, tests_dir: Path | None = None) -> list[Path]:
    """Write `files` contracts under `dest` (plus the corpus's non-contract files in every
    folder, and with `errors` the true-error files); returns the contract paths written.

    `falsifiers_per_file` is the mean; the total is round(files * mean). The same
    `seed` gives byte-identical output.
    """
    rng = random.Random(seed)
    contracts, others = _templates()
    dest.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for folder in FOLDERS:
        (dest / folder).mkdir(parents=True, exist_ok=True)
        for o in others:
            shutil.copyfile(o, dest / folder / o.name)
    counts = _counts(files, falsifiers_per_file, rng)
    for i, n in enumerate(counts):
        if i % 2 == 0:
            template, parts = contracts[rng.randrange(len(contracts))]
        # Pairs of files share a stem in two folders (keys differ, stems clash).
        folder = FOLDERS[(i % 2) + 2 * ((i // 2) % (len(FOLDERS) // 2))]
        stem = template.stem.removesuffix("-v1")
        path = dest / folder / f"{stem}-{i // 2:04d}-v1.yaml"
        path.write_text(_resize(parts, n), encoding="utf-8", newline="")
        written.append(path)
    if errors:
        for e in sorted(ERRORS.glob("*.yaml")):
            shutil.copyfile(e, dest / e.name)
    if tests_dir is not None:
        write_tests(dest, written, tests_dir)
    return written


def write_tests(contracts_dir: Path, contracts: list[Path], tests_dir: Path) -> list[Path]:
    """One trivial passing test per falsifier, bound by qualified id `KEY::ID`."""
    tests_dir.mkdir(parents=True, exist_ok=True)
    lines: list[str] = []
    for path in contracts:
        key = path.relative_to(contracts_dir).with_suffix("").as_posix()
        for m in _ID_LINE.finditer(path.read_text(encoding="utf-8")):
            fid = m.group(2)
            name = re.sub(r"\W", "_", f"{key}__{fid}")
            lines.append(f'@pytest.mark.falsifier("{key}::{fid}")\ndef test_{name}():\n    pass\n')
    out = []
    for k in range(0, len(lines), TESTS_PER_MODULE):
        p = tests_dir / f"test_gen_{k // TESTS_PER_MODULE:04d}.py"
        p.write_text("import pytest\n\n\n" + "\n\n".join(lines[k:k + TESTS_PER_MODULE]),
                     encoding="utf-8")
        out.append(p)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dest", type=Path, help="contracts directory to write (created)")
    ap.add_argument("--files", type=int, default=APRENDER_FILES)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--falsifiers-per-file", type=float,
                    default=APRENDER_FALSIFIERS / APRENDER_FILES, help="mean (default: aprender's)")
    ap.add_argument("--errors", action="store_true", help="add the true-error files once")
    ap.add_argument("--tests", type=Path, default=None, metavar="DIR",
                    help="also write one trivial bound test per falsifier under DIR")
    args = ap.parse_args(argv)
    if args.files < 1 or args.falsifiers_per_file < 1:
        print("error: --files and --falsifiers-per-file must be >= 1", file=sys.stderr)
        return 2
    paths = generate(args.dest, args.files, args.seed, args.falsifiers_per_file,
                     args.errors, args.tests)
    n = sum(len(_ID_LINE.findall(p.read_text(encoding="utf-8"))) for p in paths)
    print(f"wrote {len(paths)} contracts with {n} falsifiers under {args.dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
