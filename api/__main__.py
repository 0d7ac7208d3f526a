"""python -m glasslab: the same as the glasslab command."""

from glasslab.tui.cli import main

main()
