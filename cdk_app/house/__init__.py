"""House defaults for what repeats: bundling, Python functions, state machines, nag."""
