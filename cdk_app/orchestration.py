"""Orchestration: the processing functions and the state machine from step_functions/."""
from __future__ import annotations

import json

from aws_cdk import Duration, Fn, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from cdk_app.config import PipelineConfig
from cdk_app.database import Database
from cdk_app.house.bucket_access import grant_object_reads, grant_object_writes
from cdk_app.house.nag import BUCKET_OBJECTS, GRANT_ACTIONS, suppress
from cdk_app.house.python_function import PipelineFunction, PipelineLayers
from cdk_app.house.state_machine import grant_child_executions, pipeline_state_machine
from cdk_app.models import Models
from cdk_app.network import Network
from cdk_app.storage import Storage
from cdk_app.taxonomy import Taxonomy
from functions.common import constants as c
from functions.taxonomy.taxonomy import ENV_TAXONOMY_URI
from model_artifacts.catalog import MODERATION_LABELS
from step_functions import definition as asl

# (memory MB, timeout, ephemeral storage MB, needs the media layer) per step.
# extract decodes video and documents: most memory, disk for chunks and keyframes.
_SIZING = {
    c.STEP_EXTRACT: (3008, Duration.minutes(15), 10240, True),
    # scan pages through a large object's chunk texts and sends them to the pii endpoint (no model in Lambda:
    # Presidio with spaCy is about 300 MB installed, above Lambda's 250 MB unzipped limit; README, "Compliance").
    c.STEP_SCAN: (1024, Duration.minutes(15), 512, False),
    c.STEP_GENERATE: (1024, Duration.minutes(10), 1024, False),
    # embed and store page through a large object's chunks (up to max_chunks) in one invocation:
    # Lambda's longest timeout (the Map task's TimeoutSeconds, 960, stays above it).
    c.STEP_EMBED: (1024, Duration.minutes(15), 1024, False),
    c.STEP_STORE: (1024, Duration.minutes(15), 512, False),
    c.STEP_RECORD_FAILURE: (256, Duration.minutes(2), 512, False),
}
# Seconds of the scan function's timeout kept for what it writes after scanning (functions/compliance/settings.py).
_SCAN_MARGIN_SECONDS = 180
# Which model endpoints each step calls (OCR and speech make chunk text, so extract calls them).
_ENDPOINTS_CALLED = {
    c.STEP_EXTRACT: (c.MODEL_OCR, c.MODEL_SPEECH),
    c.STEP_SCAN: (c.MODEL_PII, c.MODEL_MODERATION),
    c.STEP_GENERATE: (c.MODEL_GENERATION,),
    c.STEP_EMBED: (c.MODEL_IMAGE_EMBEDDING, c.MODEL_TEXT_EMBEDDING),
    # the taxonomy's label texts, once per container and taxonomy version (functions/taxonomy/ingest.py)
    c.STEP_STORE: (c.MODEL_IMAGE_EMBEDDING, c.MODEL_TEXT_EMBEDDING),
}
_DESCRIPTIONS = {
    c.STEP_EXTRACT: "Validates one object and extracts its content into the staging area",
    c.STEP_SCAN: "Finds personal data in chunk text and unsafe content in images through the model endpoints",
    c.STEP_GENERATE: "Generates captions, transcripts, summaries and tags through the model endpoints",
    c.STEP_EMBED: "Embeds chunks, keyframes and images through the model endpoints",
    c.STEP_STORE: "Writes all rows of one object version to PostgreSQL in one transaction",
    c.STEP_RECORD_FAILURE: "Records why an object failed, with its reason",
}


class Orchestration(Construct):
    """Exposes `functions` ({step: PipelineFunction}) and `state_machine`."""

    def __init__(self, scope: Construct, construct_id: str, *, config: PipelineConfig, network: Network,
                 storage: Storage, layers: PipelineLayers, database: Database, models: Models,
                 taxonomy: Taxonomy) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        common_env = {
            c.ENV_PIPELINE_VERSION: config.pipeline_version,
            c.ENV_STAGING_BUCKET: storage.staging_bucket.bucket_name,
            c.ENV_MODEL_ENDPOINTS: stack.to_json_string(models.endpoint_names),
            c.ENV_MODEL_COMPONENTS: stack.to_json_string(models.component_names),
            c.ENV_MAX_OBJECT_BYTES: str(config.max_object_mb * 1024 * 1024),
            c.ENV_VIDEO_CHUNK_SECONDS: str(config.video_chunk_seconds),
            c.ENV_VIDEO_CHUNKING: config.video_chunking,
            c.ENV_MAX_TEXT_BYTES: str(config.max_text_mb * 1024 * 1024),
            c.ENV_MAX_CHUNKS: str(config.max_chunks),
            c.ENV_SEGMENT_SECONDS: str(config.segment_seconds),
            c.ENV_SEGMENT_PAGES: str(config.segment_pages),
            c.ENV_TEXT_CHUNK_TOKENS: str(config.text_chunk_tokens),
            c.ENV_TEXT_CHUNK_OVERLAP: str(config.text_chunk_overlap),
            c.ENV_MODEL_BATCH_ITEMS: json.dumps(models.batch_items),
            **database.connection_env,
        }
        # The scan step's policy; the salt of the findings' value hashes is the stack's id (a UUID
        # that exists only once deployed): hashes compare within one deployment, never across.
        compliance_env = {c.ENV_COMPLIANCE: stack.to_json_string({
            "moderation_labels": list(MODERATION_LABELS),
            "moderation_threshold": config.compliance.moderation_threshold,
            "profanity_threshold": config.compliance.profanity_threshold,
            "hash_salt": Fn.select(2, Fn.split("/", stack.stack_id)),
            "redact": config.compliance.redact,
            # What is left of the timeout covers staging the findings and, with redaction, the rewrite.
            "scan_budget_seconds": _SIZING[c.STEP_SCAN][1].to_seconds() - _SCAN_MARGIN_SECONDS,
        })}
        self.functions: dict[str, PipelineFunction] = {}
        for step, (memory, timeout, disk, media) in _SIZING.items():
            self.functions[step] = PipelineFunction(
                self, "".join(p.title() for p in step.split("_")), name=step, config=config, network=network,
                layers=[layers.core, layers.media] if media else [layers.core],
                description=_DESCRIPTIONS[step],
                memory_mb=memory, timeout=timeout, ephemeral_storage_mb=disk,
                environment={**common_env, **compliance_env} if step == c.STEP_SCAN
                else {**common_env, ENV_TAXONOMY_URI: taxonomy.uri} if step == c.STEP_STORE else common_env,
            )

        f = self.functions
        key = storage.key
        # extract reads versions of uploads that may be gone since their event, and looks for an
        # attachment before writing it (missing keys: 404, not 403).
        grant_object_reads(storage.ingest_bucket, key, f[c.STEP_EXTRACT].role, versions=True, missing_keys=True)
        # extract writes each e-mail attachment back as an object of its own, under one prefix only
        # (functions/processing/formats/eml.py); its notification starts its own processing.
        grant_object_writes(storage.ingest_bucket, key, f[c.STEP_EXTRACT].role, f"{c.ATTACHMENTS_PREFIX}/*")
        # extract, scan and generate read model-call checkpoints that may not exist yet
        # (functions/processing/staging/checkpoints.py); embed and store read only what earlier steps staged.
        for step in (c.STEP_EXTRACT, c.STEP_SCAN, c.STEP_GENERATE, c.STEP_EMBED):
            grant_object_reads(storage.staging_bucket, key, f[step].role, f"{c.STAGING_PREFIX}/*",
                               missing_keys=step != c.STEP_EMBED)
            grant_object_writes(storage.staging_bucket, key, f[step].role, f"{c.STAGING_PREFIX}/*")
        grant_object_reads(storage.staging_bucket, key, f[c.STEP_STORE].role, f"{c.STAGING_PREFIX}/*")
        taxonomy.grant_read(f[c.STEP_STORE].role)
        for step in (c.STEP_EXTRACT, c.STEP_STORE, c.STEP_RECORD_FAILURE):
            database.grant_connect(f[step].role)
        for step, roles in _ENDPOINTS_CALLED.items():
            arns = models.invoke_arns(roles)
            if arns:
                f[step].role.add_to_policy(iam.PolicyStatement(actions=["sagemaker:InvokeEndpoint"], resources=arns))
        for fn in f.values():
            suppress(
                fn.role,
                "AwsSolutions-IAM5",
                "Object-level wildcards inside the pipeline's own buckets (ingest objects, its attachments/ and "
                "staging/ prefixes) "
                "and KMS GenerateDataKey*/ReEncrypt* from the CDK bucket grants; ENI and X-Ray actions "
                "have no resource-level permissions.",
                [GRANT_ACTIONS, BUCKET_OBJECTS],
            )

        definition = asl.render(config.map_max_concurrency, config.segment_max_concurrency)
        substitutions = {asl.FUNCTION_ARN_KEYS[step]: fn.function.function_arn for step, fn in f.items()}
        self.state_machine = pipeline_state_machine(
            self,
            "StateMachine",
            config=config,
            definition=definition,
            substitutions=substitutions,
            key=storage.key,
        )
        for fn in f.values():
            fn.function.grant_invoke(self.state_machine)
        # A long object's segments run as child executions of this machine (a Distributed Map).
        grant_child_executions(self, self.state_machine, storage.key)
        suppress(self.state_machine, "AwsSolutions-IAM5",
                 "lambda:InvokeFunction on the pipeline functions' ARNs and their versions (ARN:*), "
                 "and X-Ray/log delivery actions that have no resource-level permissions.",
                 [{"regex": "/^Resource::<Orchestration[A-Za-z0-9]+\\.Arn>:\\*$/"}, "Resource::*"])
