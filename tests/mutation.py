"""Mutation testing of the economics (engine/firms/static.py, engine/closures/fixed_wage.py, engine/scenario/policy.py) with
mutmut, on a systematic sample of mutants, and the mutation score per file.

Usage (from the repository root, after ``pip install -e '.[test,mutation]'``)::

    python tests/mutation.py            # every 8th mutant of every function (about 290 of 2,300)
    python tests/mutation.py --every 1  # all of them (hours on 2 cores)

The configuration is ``[tool.mutmut]`` in pyproject.toml (files to mutate, the fast test subset).
mutmut copies the code into ``mutants/`` (ignored by git), runs the test subset once to learn which
tests reach which function, then forks one worker per mutant (from a clean fork server: forking
the process that ran the tests deadlocks in Polars' thread pool) that runs only those tests. The
sample is every ``K``-th mutant number of every function (mutmut numbers each function's mutants
1, 2, ...; we take ``1, 1 + K, 1 + 2K, ...``), so it is spread over all functions and the same on
every run; each run tests the whole sample again.

Score = killed / (killed + survived + not reached by any test of the subset); a timeout counts as
killed (the mutant made the tests slower than mutmut's limit, e.g. a solver that no longer
converges), and so does a crash of the test process (SIGABRT/SIGSEGV). The survivors, with their
diffs, are written to ``mutants/survivors.md``; the reasons of those kept are in
tests/MUTATION_SURVIVORS.md.
"""

import argparse
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FILES = ("engine/firms/static.py", "engine/closures/fixed_wage.py", "engine/scenario/policy.py")
STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests", -24: "timeout", 24: "timeout",
          152: "timeout", 255: "timeout", 36: "timeout", -9: "timeout", -6: "crashed", -11: "crashed",
          None: "not checked"}


def sample_patterns(every, largest=3000):
    """fnmatch patterns of the sampled mutant names."""
    return [f"*__mutmut_{n}" for n in range(1, largest, every)]


def sampled(name, every):
    return (int(name.rsplit("_", 1)[1]) - 1) % every == 0


def results(every):
    """{file: Counter of status} and the list of survivors, over the sampled mutants."""
    counts, survivors = {}, []
    for file in FILES:
        meta = json.loads((REPO / "mutants" / f"{file}.meta").read_text())
        counter = Counter()
        for name, code in meta["exit_code_by_key"].items():
            if not sampled(name, every):
                continue
            status = STATUS.get(code, "suspicious")
            counter[status] += 1
            if status in ("survived", "no tests", "suspicious"):
                survivors.append((file, name, status))
        counts[file] = counter
    return counts, survivors


def score(counter):
    caught = counter["killed"] + counter["timeout"] + counter["crashed"]
    total = caught + counter["survived"] + counter["no tests"] + counter["suspicious"]
    return caught, total


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--every", type=int, default=8, help="test every K-th mutant of each function [8]")
    parser.add_argument("--max-children", type=int, default=2, help="parallel mutmut workers [2]")
    parser.add_argument("--report-only", action="store_true", help="summarise the results already in mutants/")
    args = parser.parse_args(argv)
    env = {**os.environ, "NUMBA_THREADING_LAYER": "workqueue", "NUMBA_NUM_THREADS": "1"}
    if not args.report_only:
        command = [sys.executable, "-m", "mutmut", "run", "--max-children", str(args.max_children)]
        if args.every > 1:
            command += sample_patterns(args.every)
        subprocess.run(command, cwd=REPO, env=env, check=False, stdout=subprocess.DEVNULL)
    counts, survivors = results(args.every)
    lines = [f"Mutation score, every {args.every}th mutant of each function (mutmut, tests/mutation.py):", ""]
    lines.append("| file | killed | timeout or crash | survived | not reached | score |")
    lines.append("| --- | --- | --- | --- | --- | --- |")
    all_caught = all_total = 0
    for file, counter in counts.items():
        caught, total = score(counter)
        all_caught, all_total = all_caught + caught, all_total + total
        lines.append(f"| {file} | {counter['killed']} | {counter['timeout'] + counter['crashed']} | "
                     f"{counter['survived']} | {counter['no tests']} | "
                     f"{100 * caught / max(total, 1):.1f}% ({caught}/{total}) |")
    overall = 100 * all_caught / max(all_total, 1)
    lines.append(f"| all three | | | | | {overall:.1f}% ({all_caught}/{all_total}) |")
    unchecked = sum(c["not checked"] for c in counts.values())
    if unchecked:
        lines.append(f"\n{unchecked} sampled mutants not checked yet (run again to finish).")
    print("\n".join(lines))
    report = ["# Surviving mutants (generated by tests/mutation.py; not kept)", ""]
    for file, name, status in survivors:
        diff = subprocess.run([sys.executable, "-m", "mutmut", "show", name], cwd=REPO, env=env,
                              capture_output=True, text=True, check=False).stdout
        report += [f"## {name} ({status})", "", "```diff", diff.strip(), "```", ""]
    (REPO / "mutants" / "survivors.md").write_text("\n".join(lines + [""] + report))
    print(f"\n{len(survivors)} survivors with diffs: {REPO / 'mutants' / 'survivors.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
