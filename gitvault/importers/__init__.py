"""Importers: whole stores of other trackers brought into the vault (`git vault import-from KIND PATH`)."""
