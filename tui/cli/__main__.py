"""python -m glasslab.tui.cli: the same as the glasslab command."""

from glasslab.tui.cli import main

main()
