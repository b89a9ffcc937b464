"""Writes the .xls and .ods lists of tests/test_sheet_formats.py, as a clerk's
LibreOffice saves them: run from the project's root, with soffice on the PATH.

    .venv/bin/python tests/data/make_sheets.py
"""

import datetime
import pathlib
import subprocess
import sys
import tempfile

import openpyxl

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))
from beneficiaries import idnumber

HERE = pathlib.Path(__file__).parent


def main() -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["城中区困难职工慰问名单"])
    sheet.append(["姓名", "身份证号", "金额", "救助类别", "发放日期"])
    for sequence, (name, amount) in enumerate([("张三", 1000), ("李四", 500.5), ("王五", 300)], start=1):
        sheet.append([name, idnumber.build("630103", datetime.date(1980, 5, 17), sequence), amount, "", "2022-11-03"])
    sheet.append(["合计", None, "=SUM(C3:C5)"])  # as clerks write a totals row
    with tempfile.TemporaryDirectory() as scratch:
        source = pathlib.Path(scratch) / "城中区名单.xlsx"
        book.save(source)
        for extension in ("xls", "ods"):
            subprocess.run(
                ["soffice", "--headless", "--convert-to", extension, "--outdir", str(HERE), str(source)], check=True
            )


if __name__ == "__main__":
    main()
