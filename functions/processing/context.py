"""What every step needs from its environment: S3, settings, the model client, the database."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from functions.common.db import Database
from functions.common.model_client import ModelClient
from functions.common.settings import Settings


@dataclass
class Context:
    s3: Any
    settings: Settings
    models: ModelClient
    db: Database | None = None

    @classmethod
    def from_env(cls, with_db: bool = True) -> "Context":
        """Clients for one container; create once (module level in the handler) and reuse."""
        import boto3
        from botocore.config import Config

        settings = Settings.from_env()
        # Standard mode retries S3's 5xx/SlowDown a few times before we see them.
        s3 = boto3.client("s3", config=Config(retries={"mode": "standard", "max_attempts": 5}))
        models = ModelClient(settings.model_endpoints, batch_items=settings.model_batch_items, s3_client=s3)
        return cls(s3=s3, settings=settings, models=models, db=Database() if with_db else None)
