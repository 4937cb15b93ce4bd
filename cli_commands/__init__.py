"""The commands of `cdiscflow` (cli.py, the entry point, assembles them into one group): the whole pipeline,
one stage at a time, the spec commands, the study-specific simulator, and what they share."""
