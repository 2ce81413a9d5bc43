"""Privacy duties (Ontario PHIPA): retention, access requests, erasure, backups.

- `personal`: what is personal data, and where; removing it from every table at once.
- `purge`: retention: old spam deleted, old closed inquiries redacted, old mail files and
  expired tokens removed (the worker's housekeeping and `inquiry privacy purge`).
- `export`: everything held about a person, as JSON and HTML (`inquiry privacy export`).
- `erase`: erasure on request, with a tombstone (`inquiry privacy erase`).
- `selector`: a person by email address, phone number or reference.
- `backup`: a consistent copy of the SQLite database (`inquiry backup`).
- `models`: the erasure tombstone.

Each service takes a `Caller` and audits what it does; the command line (`cli`) and, later,
the admin console call the same functions.
"""
