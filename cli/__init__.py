"""The `git vault` command: a thin view over the gitvault core."""
