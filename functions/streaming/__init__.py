"""Plain modules of the streaming edge: S3 event -> Kafka message -> execution inputs.

Nothing here knows about Lambda; the forwarder and dispatcher handlers are thin wrappers.
"""
