"""All SQL of the processing steps: object identity and its lock, up-to-date and reuse queries, writes."""
