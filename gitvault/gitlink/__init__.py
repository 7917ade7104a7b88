"""Runs and the commits that hold their code: the link index, git notes and hook installation."""
