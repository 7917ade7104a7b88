"""A run's life: the SDK's `Store`, `Experiment` and `Run`, the live spool, sealing and recovery, capture, curves and artifacts, and the edits front-ends make."""
