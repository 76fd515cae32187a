"""The school tier: hubs replicate what they store to one PostgreSQL server, reports read it there.

Each hub's SQLite store stays the primary: a class runs the same with the school server
down, slow or unreachable. Pieces:

- `ledger`: the hub's replication bookkeeping in its SQLite file (marks, erasures) and the
  snapshots of what remains to ship; the only module the hub's own code imports (it needs
  no PostgreSQL driver);
- `replicator` (on its `worker` thread) ships them with `shipping`;
- `pgschema`: the server's schema, migrations, roles and row-level security;
- `connection`: connecting, and one sentence for every failure; `health`: ``doctor``'s check;
- `readers`, `course` and `course_output`: reports from the server (the same report model as
  a hub's) and the course view;
- `erasure`: purges on the school tier; `commands`: the command line;
- `throwaway`: a disposable server for tests and ``smartsession bench school``.

Replicating another table (class alerts, say): its PostgreSQL table with ``hub_id`` first in
a new `pgschema` migration (grants and the ``own_rows`` policy as for the others), its
columns in `ledger` (``ITEM_COLUMNS`` if it grows by a replication id like samples,
``SESSION_COLUMNS`` if it is small and shipped whole per session, with a count in the
session digest), its statement in `shipping`, and its name in the erasure lists.
"""
