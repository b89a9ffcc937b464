"""Fixing an imported list in its preview: a duplicate named by the sheet line the
clerk sees, and a bad cell shown as it was read, not as a blank box."""

import pytest

from tests.test_list_import import frontline_rows, upload, xlsx_bytes


def fix_box(page: str, line: int, field: str) -> str:
    start = page.index(f'name="row-{line}-{field}"')
    return page[page.rindex("<", 0, start) : page.index(">", start) + 1]


@pytest.mark.django_db
def test_a_duplicate_within_a_sheet_names_the_earlier_sheet_line(alice_client, rich_fund):
    rows = frontline_rows(5)
    rows[3] = list(rows[1])  # under a two-line title: sheet lines 5 and 7, the same worker twice this month
    job, location = upload(alice_client, rich_fund, xlsx_bytes(rows, title_rows=2))
    problems = [(p["line"], p["code"], p["message"]) for p in job.problems]
    assert [(line, code) for line, code, _message in problems] == [(7, "duplicate_payment")]
    message = problems[0][2]
    assert "本名单第5行" in message, message
    assert "本名单第5行" in alice_client.get(location).content.decode()


@pytest.mark.django_db
def test_a_bad_cell_is_shown_in_its_correction_box_as_it_was_read(alice_client, rich_fund):
    rows = frontline_rows(3)
    rows[1][2] = "一千元"
    rows[2][1] = 630103198005170000  # an ID number typed into a number cell
    job, location = upload(alice_client, rich_fund, xlsx_bytes(rows))
    assert {(p["line"], p["code"]) for p in job.problems} == {(3, "invalid_amount"), (4, "id_number_not_text")}
    page = alice_client.get(location).content.decode()
    assert 'value="一千元"' in fix_box(page, 3, "amount")
    assert 'value="630103198005170048"' in fix_box(page, 4, "id_number")  # the digits the cell holds

    response = alice_client.post(
        f"{location}fix/",
        {
            "row-3-name": rows[1][0],
            "row-3-id_number": rows[1][1],
            "row-3-amount": "1000",
            "row-3-date": "2022-11-03",
            "row-4-name": rows[2][0],
            "row-4-id_number": "630103198005170000",
            "row-4-amount": "1000",
            "row-4-date": "2022-11-03",
        },
    )
    assert response.status_code == 302
    job.refresh_from_db()
    # The amount is fixed; the ID number, retyped as Excel left it, is still wrong, and says so.
    assert [(p["line"], p["field"]) for p in job.problems] == [(4, "id_number")]
    assert all("as_read" not in row for row in job.rows if row["line"] == 3)
