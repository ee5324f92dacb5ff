"""`python -m memfun_git` runs the memfun command."""

from memfun_git.cli.entry import main

main()
