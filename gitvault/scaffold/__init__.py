"""`git vault new` scaffolding and the demo vault."""
