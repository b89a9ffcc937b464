"""Reads an .xls or .ods sheet in a process of its own, under a memory cap.

Run by `sheetreader` as `python -I sheetchild.py MAX_ROWS MAX_COLUMNS MEMORY`
with the file on standard input; answers one pickled dict on standard output.
Standard library and calamine only: no Django, so it starts in a blink.

Why a process of its own: calamine lays out a sheet's used range whole before
it gives a cell back, and an .ods says in a 1 KB file that one cell repeats
20,000 times across and 20,000 times down (an .xls gives a cell any row and
column up to 65,535 the same way). Laid out, that is 50 GB: the allocation
fails inside Rust, which aborts the process. XLSX is measured from its XML
before anything is laid out (`sheetreader._scan_worksheets`); these formats
are binary or repeat cells by count, so here the operating system measures,
and only this process dies.
"""

import io
import pickle
import resource
import sys


def main() -> None:
    max_rows, max_columns, memory = (int(argument) for argument in sys.argv[1:4])
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    content = sys.stdin.buffer.read()
    sys.stdout.buffer.write(pickle.dumps(read(content, max_rows, max_columns)))


def read(content: bytes, max_rows: int, max_columns: int) -> dict:
    import python_calamine

    try:
        sheet = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(content)).get_sheet_by_index(0)
    except MemoryError:
        return {"error": "memory"}
    except Exception:  # CalamineError, or whatever a damaged file provokes
        return {"error": "broken"}
    start, end = sheet.start or (0, 0), sheet.end or (0, 0)
    if end[1] >= max_columns or end[0] >= max_rows:
        return {"error": "far", "row": end[0], "column": end[1]}
    try:
        rows = list(sheet.iter_rows())
    except MemoryError:
        return {"error": "memory"}
    except Exception:
        return {"error": "broken"}
    return {"rows": rows, "first_column": start[1]}


if __name__ == "__main__":
    main()
