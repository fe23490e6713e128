"""Processing of one object version, in layers (each imports only the layers below it, checked
by import-linter, `make check`):

* steps/    one module per state machine task (extract, segments, generate, embed, store,
            failure): read the previous step's manifest, do the step, stage the next one.
* extract/  one `extract(job)` per modality, over an ExtractJob (source file, staging, models).
* results/  all SQL: object identity and its lock, up-to-date and reuse queries, the writes.
* staging/  the staging area: manifests, chunk pages, model-call checkpoints, long-object parts.
* chunking/ text into token windows, transcripts into phrases, rows into chunks, video into scenes.
* formats/  pure readers (a path in, a Document out; no S3, no models, no database), content
            detection and the format registry.

Nothing here knows about Lambda: the handlers in functions/<step>/handler.py parse the event
and call `steps.<step>.run(...)`.
"""
