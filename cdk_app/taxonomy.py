"""Taxonomy: the user's taxonomy file and the function that labels stored objects with it.

Decisions:
* The taxonomy is data named by the `taxonomy` context key: a JSON file in this repository
  (uploaded as a CDK file asset: no Docker) or an s3:// URI of an object the user keeps; the
  default is taxonomies/iab_content_tier1.json. Functions read it from TAXONOMY_URI, so a new
  file is a `cdk deploy`, and its version (a digest of its labels) is in every label row.
* Labels at ingest are written by store in the transaction that writes the embeddings; the
  `relabel` function (functions/relabel) re-labels every stored object from the stored object
  vectors after the taxonomy changes, nothing extracted again; the `pipeline_relabel` DAG starts
  it, dry run first. It embeds the label texts with the two embedding endpoints (InvokeEndpoint
  on those only) and writes through RDS Proxy as the app user.
"""
from __future__ import annotations

from pathlib import Path

from aws_cdk import Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct

from cdk_app.config import PipelineConfig
from cdk_app.database import Database
from cdk_app.house.python_function import PipelineFunction, PipelineLayers
from cdk_app.models import Models
from cdk_app.network import Network
from functions.common import constants as c
from functions.reprocess import names
from functions.taxonomy.taxonomy import DEFAULT_TAXONOMY, ENV_TAXONOMY_URI, load_taxonomy

CONTEXT_KEY = "taxonomy"
ROOT = Path(__file__).resolve().parents[1]
EMBEDDING_ROLES = (c.MODEL_TEXT_EMBEDDING, c.MODEL_IMAGE_EMBEDDING)


class Taxonomy(Construct):
    """Exposes `uri` (s3:// of the taxonomy file), `grant_read(grantee)` and `function` (relabel)."""

    def __init__(self, scope: Construct, construct_id: str, *, config: PipelineConfig, network: Network,
                 layers: PipelineLayers, database: Database, models: Models) -> None:
        super().__init__(scope, construct_id)
        source = str(self.node.try_get_context(CONTEXT_KEY) or DEFAULT_TAXONOMY.relative_to(ROOT))
        if source.startswith("s3://"):
            self.uri = source
            bucket, _, key = source[5:].partition("/")
        else:
            path = (ROOT / source).resolve()
            load_taxonomy(path)  # a bad file fails the synth, not the first object
            asset = s3_assets.Asset(self, "File", path=str(path))
            self.uri, bucket, key = asset.s3_object_url, asset.s3_bucket_name, asset.s3_object_key
        # That one object, not the asset bucket (Asset.grant_read would give GetObject* on all of it).
        self._object_arn = Stack.of(self).format_arn(service="s3", region="", account="", resource=bucket,
                                                     resource_name=key)
        self.function = PipelineFunction(
            self, "Relabel", name=names.FN_RELABEL, config=config, network=network, layers=[layers.core],
            description="Label every stored object with the taxonomy from its stored vectors (dry run first)",
            # one SQL statement over every object vector; a few model calls for the label texts
            memory_mb=1024, timeout=Duration.minutes(15),
            environment={
                ENV_TAXONOMY_URI: self.uri,
                **models.client_env(EMBEDDING_ROLES),
                **database.connection_env,
            },
        )
        database.grant_connect(self.function.role)
        self.grant_read(self.function.role)
        models.grant_invoke(self.function.role, EMBEDDING_ROLES)

    def grant_read(self, grantee: iam.IGrantable) -> None:
        """s3:GetObject on the taxonomy file, nothing else (the bootstrap asset bucket is SSE-S3)."""
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(actions=["s3:GetObject"], resources=[self._object_arn]))
