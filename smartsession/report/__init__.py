"""After class: stored sessions turned into reports a teacher can hand on.

`queries` reads the hub's SQLite store, `model` computes the report (pure), `writers` and
`html` write CSV (a zip of tables), JSON, xlsx and a self-contained HTML page, `export`
ties them together, and `commands` holds ``smartsession sessions|report|purge``.
"""
