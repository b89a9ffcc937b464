"""The REST API, v1 (contract: API.md). What every resource shares lives in this
package; each app's resources live in its own `api.py`, and `unionfunds.api_urls`
puts them under `/api/v1/`."""
