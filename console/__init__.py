"""The staff console: review what people asked, teach the assistant, edit the facts, in the browser.

`python -m console` (started by `make run`); accounts with `make staff-user NAME=...`; docs/STAFF.md.
"""
