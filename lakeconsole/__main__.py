"""`python -m lakeconsole` runs the command line."""

from lakeconsole.cli import main

raise SystemExit(main())
