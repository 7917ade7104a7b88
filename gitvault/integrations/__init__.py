"""Loggers and callbacks for training frameworks, each importing its framework only when used.

`capture` turns any config object into a run's config; `base` opens, streams to and seals the runs
every adapter writes; `wandb` is the W&B-shaped module API (``import gitvault as wandb``);
`optuna` and `hydra` are the sweep and config adapters; `lightning` (and `pytorch_lightning`),
`transformers`, `keras` and `accelerate` are the trainer adapters, sharing `adapter`.
"""
