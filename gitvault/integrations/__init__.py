"""Loggers and callbacks for training frameworks, each importing its framework only when used."""
