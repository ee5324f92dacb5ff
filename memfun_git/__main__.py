"""`python -m memfun_git` runs the memfun command."""

from memfun_git.cli.main import main

main()
