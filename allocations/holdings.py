"""What a fund holds according to its entries, as one SQL query.

The one definition of a balance and a reservation in terms of the entries:
`verify` compares every fund with it, and `services.funds_settle_from_entries`
writes it after a bulk load that bypassed the services. A balance is what the
approved entries brought in less what they took out (a reversal undoing its
original); a reservation is what pending entries would take out.
"""

from collections.abc import Sequence

from allocations.models import CLOSED, Allocation, Contribution, Disbursement, Status


def holdings_sql(scope_sql: str = "", scope_params: Sequence[int | str] = ()) -> tuple[str, tuple[int | str, ...]]:
    """`SELECT fund_id, held, held_back` in fen, one row per fund with entries,
    for the funds whose ids `scope_sql` selects (all without it)."""
    approved, pending = f"status = '{Status.APPROVED}'", f"status = '{Status.PENDING}'"
    # (entries, fund column, +1 where an original gives money to that fund, -1 where it takes)
    flows = [
        (Contribution._meta.db_table, "fund_id", 1),
        (Allocation._meta.db_table, "to_fund_id", 1),
        (Allocation._meta.db_table, "from_fund_id", -1),
        (Disbursement._meta.db_table, "fund_id", -1),
    ]
    closed = ", ".join(f"'{status}'" for status in CLOSED)
    parts = []
    for table, column, sign in flows:
        effect = "amount" if sign > 0 else "-amount"
        undone = "-amount" if sign > 0 else "amount"
        # A pending entry holds money on the fund it would take from: an original
        # where originals take, a reversal where originals give.
        holds = "reverses_id IS NOT NULL" if sign > 0 else "reverses_id IS NULL"
        parts.append(
            f"SELECT {column} AS fund_id, "
            f"CASE WHEN {approved} THEN CASE WHEN reverses_id IS NULL THEN {effect} ELSE {undone} END ELSE 0 END "
            f"AS held, CASE WHEN {pending} AND {holds} THEN amount ELSE 0 END AS held_back "
            f"FROM {table} WHERE status NOT IN ({closed})"
        )
    where = f"WHERE fund_id IN ({scope_sql})" if scope_sql else ""
    sql = (
        f"SELECT fund_id, SUM(held) AS held, SUM(held_back) AS held_back "
        f"FROM ({' UNION ALL '.join(parts)}) flows {where} GROUP BY fund_id"
    )
    return sql, tuple(scope_params)
