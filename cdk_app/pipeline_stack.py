"""The pipeline stack: wires one construct per concern. No business logic here."""
from __future__ import annotations

from aws_cdk import Aspects, CfnOutput, Stack
from constructs import Construct

from cdk_app.backfill import Backfill
from cdk_app.config import PipelineConfig
from cdk_app.database import Database
from cdk_app.house.key_policy import ConditionServiceStatements
from cdk_app.house.log_encryption import EncryptLogGroups
from cdk_app.house.nag import suppress_cdk_singletons
from cdk_app.house.python_function import CdkProvidedFunctions, PipelineLayers
from cdk_app.models import Models
from cdk_app.network import Network
from cdk_app.observability import Observability
from cdk_app.orchestration import Orchestration
from cdk_app.search import Search
from cdk_app.storage import Storage
from cdk_app.streaming import Streaming
from cdk_app.taxonomy import Taxonomy
from functions.common import constants as c


class PipelineStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: PipelineConfig, **kwargs) -> None:
        super().__init__(scope, construct_id, description="Multimodal data processing pipeline", **kwargs)
        self.config = config
        network = Network(self, "Network", config=config)
        storage = Storage(self, "Storage", config=config)
        layers = PipelineLayers(self, "Layers", config=config)
        database = Database(self, "Database", config=config, network=network, storage=storage, layers=layers)
        models = Models(self, "Models", config=config, storage=storage)
        taxonomy = Taxonomy(self, "Taxonomy", config=config, network=network, layers=layers, database=database,
                            models=models)
        orchestration = Orchestration(
            self, "Orchestration", config=config, network=network, storage=storage, layers=layers,
            database=database, models=models, taxonomy=taxonomy,
        )
        streaming = Streaming(
            self, "Streaming", config=config, network=network, storage=storage, layers=layers,
            state_machine=orchestration.state_machine,
        )
        search = Search(
            self, "Search", config=config, network=network, storage=storage, layers=layers,
            database=database, models=models,
        )
        backfill = None
        if config.backfill.enabled:
            backfill = Backfill(
                self, "Backfill", config=config, network=network, storage=storage, database=database,
                layers=layers, state_machine=orchestration.state_machine, relabel=taxonomy.function.function,
            )
        observability = Observability(
            self, "Observability", config=config, storage=storage, streaming=streaming,
            orchestration=orchestration, models=models, database=database, backfill=backfill,
        )
        outputs = {
            c.OUTPUT_INGEST_BUCKET: storage.ingest_bucket.bucket_name,
            c.OUTPUT_STAGING_BUCKET: storage.staging_bucket.bucket_name,
            c.OUTPUT_STATE_MACHINE_ARN: orchestration.state_machine.state_machine_arn,
            c.OUTPUT_KAFKA_TOPIC: config.kafka.topic,
            c.OUTPUT_DB_PROXY_ENDPOINT: database.proxy.endpoint,
            c.OUTPUT_DB_SECRET_ARN: database.admin_secret.secret_arn,
            c.OUTPUT_DASHBOARD: observability.dashboard.dashboard_name,
            c.OUTPUT_SEARCH_URL: search.url.url,
            c.OUTPUT_SEARCH_CALLER_POLICY: search.caller_policy.managed_policy_arn,
        }
        if backfill is not None:
            outputs[c.OUTPUT_BACKFILL_STATE_MACHINE_ARN] = backfill.batches.state_machine.state_machine_arn
        if backfill is not None and backfill.environment is not None:
            outputs[c.OUTPUT_MWAA_WEBSERVER] = backfill.environment.attr_webserver_url
        for key, value in outputs.items():
            CfnOutput(self, key, value=value)
        suppress_cdk_singletons(self)
        Aspects.of(self).add(EncryptLogGroups(storage.key))
        Aspects.of(self).add(CdkProvidedFunctions())
        Aspects.of(self).add(ConditionServiceStatements())
        self.network, self.storage, self.database, self.models = network, storage, database, models
        self.orchestration, self.streaming, self.observability = orchestration, streaming, observability
        self.search, self.taxonomy = search, taxonomy
