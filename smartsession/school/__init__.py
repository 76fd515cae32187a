"""The school tier: hubs replicate what they store to one PostgreSQL server, reports read it there.

Each hub's SQLite store stays the primary: a class runs the same with the school server
down, slow or unreachable. Pieces:

- `ledger`: the hub's replication bookkeeping in its SQLite file (marks, erasures);
- `replicator`: the hub's background shipper (`shipping` writes a batch to the server);
- `pgschema`: the server's schema, migrations, roles and row-level security;
- `connection`: connecting, and one sentence for every failure;
- `readers` and `course`: reports from the server (the same report model as a hub's);
- `erasure`: purges on the school tier; `commands`: the command line;
- `throwaway`: a disposable server for tests and ``smartsession bench school``.

Only `ledger` is imported by the hub's own code (it needs no PostgreSQL driver).
"""
