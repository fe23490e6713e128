"""One module per state machine task: read the previous manifest, do the step, stage the next."""
