"""Runs and the commits that hold their code: the link index, git notes and hook installation."""

BASE_HOOKS = ("post-commit", "post-rewrite")
PUSH_HOOK = "pre-push"
ALL_HOOKS = BASE_HOOKS + (PUSH_HOOK,)
"""The git hooks gitvault installs (here, not in `hookinstall`: `git vault -h` names them without
importing it)."""
