"""Hybrid search over the pipeline's results (core.py), its settings and authorization
(settings.py) and the Lambda behind the IAM-authorized function URL (handler.py)."""
