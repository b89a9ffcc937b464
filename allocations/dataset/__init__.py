"""A national-scale dataset on PostgreSQL, for the roll-up benchmarks.

    manage.py build_national_dataset --disbursements 5000000 [--years 2022] [--reset]

Loads the whole federation tree (31 provinces, 333 city federations, 2,978
counties and the 41,352 townships of streets.csv as the grassroots level), then
writes with COPY, in one transaction on Django's connection:

- a system clerk and a system approver (members of the national federation);
- one pandemic fund per federation per fiscal year;
- approved contributions: each province's own funds, each city's matching money,
  each township's self-raised money;
- approved allocations down the tree: province → city → county → township
  (counties of municipalities straight from the province);
- approved disbursements from township funds to synthetic beneficiaries (about
  one person per two payments, checksum-valid ID numbers from `idnumber.build`
  with the county's area code), with a few approved reversals;

- each fund's hash chain of what it approved (`allocations.ledger`), hashed in
  Python as the rows are generated: inflows first, then what it passed down,
  then its payments, so that `verify_ledger` finds the dataset clean;

and finally sets every fund's balance from the entries
(`services.funds_settle_from_entries`), so that every CHECK constraint holds,
rebuilds the running totals, and ANALYZEs. The money flows bottom-up: each
township receives what it pays out plus a margin, partly raised by itself and
the rest allocated by its county, and so on up to the province, which puts in
its own funds.

Without --reset the command tops up: it adds disbursements (and the people,
contributions and allocations behind them, as a new numbered batch) until the
table holds N rows; run again with the same N it adds nothing. --reset truncates
the money and beneficiary tables first (the federation tree stays).

Speed: rows are generated in Python and streamed to COPY while PostgreSQL
ingests them; secondary indexes of the big tables are dropped and rebuilt
around a large load; as a superuser the foreign-key triggers are skipped during
the load (session_replication_role = replica) and every new reference is checked
afterwards with one anti-join per foreign key instead.

`--verify` runs `allocations.verify` (the checks of `manage.py verify_ledger
--totals`) on the result. The dataset writes no audit trail: `verify_ledger
--audit` reports every loaded entry as unaudited, as it should.

Modules: `builder` (the steps, the money flowing down the tree, the chains),
`people` (synthetic beneficiaries), `tables` (table surgery for the load).
"""
