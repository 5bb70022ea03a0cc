"""Render the transaction state tables to Graphviz dot (STYLE.md convention 3).

    python scripts/state_diagrams.py            # all four machines on stdout
    python scripts/state_diagrams.py -o docs/   # one FILE.dot per machine
    dot -Tsvg docs/ClientInviteTransaction.dot > client-invite.svg

The figures come from the same ``TABLE`` the runner executes, so they cannot drift.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sipline.transaction import MACHINES, Transaction, TransactionState


def _quote(text: str) -> str:
    return '"' + text.replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(machine: type[Transaction]) -> str:
    """One machine as a dot digraph: an edge per table entry, labelled input / actions."""
    initial_actions, initial_state = machine.INITIAL
    lines = [
        f"digraph {machine.__name__} {{",
        "  rankdir=TB;",
        '  node [shape=box, style=rounded, fontname="Helvetica"];',
        '  edge [fontname="Helvetica", fontsize=10];',
        "  start [shape=point];",
    ]
    states = (
        {initial_state} | {s for s, _ in machine.TABLE} | {n for _, n in machine.TABLE.values()}
    )
    for state in TransactionState:
        if state in states:
            timers = ", ".join(t.value for t in sorted(machine.TIMERS.get(state, ()), key=str))
            label = state.value + (f"\n({timers})" if timers else "")
            lines.append(f"  {state.name} [label={_quote(label)}];")
    start_label = ", ".join(a.value for a in initial_actions)
    lines.append(f"  start -> {initial_state.name} [label={_quote(start_label)}];")
    for (state, event), (actions, next_state) in machine.TABLE.items():
        label = event.value + (" / " + ", ".join(a.value for a in actions) if actions else "")
        lines.append(f"  {state.name} -> {next_state.name} [label={_quote(label)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-o", "--output", type=Path, help="directory for one .dot per machine")
    args = parser.parse_args(argv)
    for machine in MACHINES:
        text = to_dot(machine)
        if args.output is None:
            sys.stdout.write(text)
        else:
            args.output.mkdir(parents=True, exist_ok=True)
            (args.output / f"{machine.__name__}.dot").write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
