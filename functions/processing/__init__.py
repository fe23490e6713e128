"""Plain processing modules: decoding, chunking, model calls and database writes per modality.

Nothing here knows about Lambda; the handlers in functions/<step>/handler.py parse the event
and call `*_step.run(...)`.
"""
