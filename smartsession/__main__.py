"""``python -m smartsession`` entry point."""

from smartsession.cli import main

raise SystemExit(main())
