"""The probe's summary line and its table of answers with problems."""

from collections import Counter

from tests.probe.leaks import Answer
from tests.probe.probe import Probe


def summary(probe: Probe, routes: int, seconds: float) -> str:
    statuses = Counter(answer.status for answer in probe.answers)
    clients = Counter(answer.client.removesuffix(" (own)") for answer in probe.answers)
    return (
        f"subtree probe: {routes} URL patterns, {len(probe.answers)} requests in {seconds:.1f}s "
        f"({', '.join(f'{c} {n}' for c, n in sorted(clients.items()))}); "
        f"status {', '.join(f'{s}×{n}' for s, n in sorted(statuses.items()))}; "
        f"{len(probe.own_traces)} rows of the clerk's own export log and audit"
    )


# Enough to see what went wrong; the rest is counted, not shown.
TABLE_ROWS = 200


def table(answers: list[Answer]) -> str:
    lines = [f"{'route':34} {'client':14} {'method':6} {'status':6} url / problem"]
    for a in answers[:TABLE_ROWS]:
        lines.append(f"{a.route[:34]:34} {a.client:14} {a.method:6} {a.status:<6} {a.url}\n{'':63}{a.problem}")
    if len(answers) > TABLE_ROWS:
        lines.append(f"… and {len(answers) - TABLE_ROWS} more")
    return "\n".join(lines)
