"""Sending a spreadsheet to the browser or an API client."""

from collections.abc import Callable

from django.http import FileResponse, StreamingHttpResponse

from unionfunds import spreadsheets

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV = "text/csv; charset=utf-8"


def sheet_response(sheet: spreadsheets.Sheet, extension: str, filename: str, *, finished: Callable | None = None):
    """CSV is streamed as it is written; XLSX is written to a spooled file
    first (a zip cannot be streamed before it is closed). `finished` runs once
    every row has been written, e.g. to log the export with its row count."""
    if extension == "csv":

        def lines():
            yield from spreadsheets.csv_lines(sheet)
            if finished:
                finished()

        response = StreamingHttpResponse(lines(), content_type=CSV)
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
    output = spreadsheets.xlsx_file(sheet)
    if finished:
        finished()
    return FileResponse(output, as_attachment=True, filename=filename, content_type=XLSX)
