"""The cross-subtree probe of tests/test_subtree_probe.py, by what each part does:

- `world`: the two counties, each with records of every kind in every state, and
  the markers (names, ID numbers, amounts with cents, keys) that tell them apart;
- `routes`: every URL pattern of the root URLconf, and how to fill its parameters
  with one side's records (or with ids no record has);
- `bodies`: the query strings and write bodies that point at the neighbour;
- `leaks`: what an answer shows, and what a request changed in the database;
- `probe`: sending the requests and judging each answer;
- `report`: the summary line and the table of answers with problems.
"""
