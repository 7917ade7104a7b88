"""Storage: records on `refs/vault/main`, the blob store, the record codec and schema, locks and file permissions."""
