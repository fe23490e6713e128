"""Names shared by the infrastructure (cdk_app), the functions, the local run and the tests.

Change a name here and every place that uses it follows; never repeat these as literals.
"""
from __future__ import annotations

from typing import Final, Literal, get_args

# --- Modalities: one Map state per modality in the state machine -------------
MODALITIES: tuple[str, ...] = ("image", "video", "audio", "text", "document")
# Objects whose type is not supported still travel through the state machine
# (in their own Map) so that they end as a failure row with a reason.
UNSUPPORTED = "unsupported"

# --- Model roles: each role is one SageMaker endpoint (or one local server) ---
MODEL_IMAGE_EMBEDDING = "image_embedding"
MODEL_GENERATION = "generation"
MODEL_SPEECH = "speech"
MODEL_TEXT_EMBEDDING = "text_embedding"
MODEL_OCR = "ocr"
# Compliance (functions/compliance): personal data in chunk text, unsafe content in images.
MODEL_PII = "pii"
MODEL_MODERATION = "moderation"
MODEL_ROLES: tuple[str, ...] = (
    MODEL_IMAGE_EMBEDDING,
    MODEL_GENERATION,
    MODEL_SPEECH,
    MODEL_TEXT_EMBEDDING,
    MODEL_OCR,
    MODEL_PII,
    MODEL_MODERATION,
)

# --- Lambda steps: folder names under functions/ and keys in the ASL substitutions
STEP_EXTRACT = "extract"
STEP_SCAN = "scan"  # personal data and image moderation, before anything is generated or embedded
STEP_GENERATE = "generate"
STEP_EMBED = "embed"
STEP_STORE = "store"
STEP_RECORD_FAILURE = "record_failure"
PIPELINE_STEPS: tuple[str, ...] = (STEP_EXTRACT, STEP_SCAN, STEP_GENERATE, STEP_EMBED, STEP_STORE)
FN_FORWARDER = "forwarder"
FN_DISPATCHER = "dispatcher"
FN_MIGRATE = "migrate"
FN_SEARCH = "search"

# --- Environment variables (set by cdk_app, read by functions/common/settings.py)
ENV_PIPELINE_VERSION = "PIPELINE_VERSION"
ENV_STAGING_BUCKET = "STAGING_BUCKET"
ENV_FAILED_BUCKET = "FAILED_BUCKET"
ENV_STATE_MACHINE_ARN = "STATE_MACHINE_ARN"
ENV_KAFKA_BOOTSTRAP = "KAFKA_BOOTSTRAP_SERVERS"
ENV_KAFKA_TOPIC = "KAFKA_TOPIC"
ENV_KAFKA_AUTH = "KAFKA_AUTH"  # "iam" on MSK, "none" for the local broker
ENV_KAFKA_PARTITIONS = "KAFKA_PARTITIONS"
# Optional "major.minor" pin of the Kafka protocol version; set by the local run only (the
# librdkafka mock broker answers ApiVersions v3+ in a shape kafka-python cannot decode).
ENV_KAFKA_API_VERSION = "KAFKA_API_VERSION"
ENV_DB_HOST = "DB_HOST"  # RDS Proxy endpoint on AWS, 127.0.0.1 locally
ENV_DB_PORT = "DB_PORT"
ENV_DB_NAME = "DB_NAME"
ENV_DB_USER = "DB_USER"
ENV_DB_AUTH = "DB_AUTH"  # "iam" (RDS Proxy IAM token), "secret" (Secrets Manager), "password"
ENV_DB_SECRET_ARN = "DB_SECRET_ARN"
ENV_DB_APP_SECRET_ARN = "DB_APP_SECRET_ARN"  # migrate only: password of the app user it creates
ENV_DB_PASSWORD = "DB_PASSWORD"  # local runs only; never set by cdk_app
ENV_MODEL_ENDPOINTS = "MODEL_ENDPOINTS"  # JSON {role: SageMaker endpoint name}
ENV_MODEL_BATCH_ITEMS = "MODEL_BATCH_ITEMS"  # JSON {role: items per request} (catalog client_batch_items)
ENV_MODEL_COMPONENTS = "MODEL_COMPONENTS"  # JSON {role: inference component name} (endpoints that scale to zero)
ENV_MODEL_CAPACITY_WAIT_SECONDS = "MODEL_CAPACITY_WAIT_SECONDS"  # polls of a model scaled to zero per call
ENV_MAX_OBJECT_BYTES = "MAX_OBJECT_BYTES"
ENV_VIDEO_CHUNK_SECONDS = "VIDEO_CHUNK_SECONDS"
ENV_VIDEO_CHUNKING = "VIDEO_CHUNKING"  # one of VIDEO_CHUNKINGS: where video chunks begin and end
ENV_MAX_TEXT_BYTES = "MAX_TEXT_BYTES"  # text, CSV: bytes read as text at most (the rest of a file is refused)
ENV_SEGMENT_SECONDS = "SEGMENT_SECONDS"  # audio/video longer than this are extracted in segments this long
ENV_SEGMENT_PAGES = "SEGMENT_PAGES"  # PDFs with more pages are extracted in ranges of this many pages
ENV_MAX_CHUNKS = "MAX_CHUNKS"  # chunks of one object at most; beyond, a failure row says so
ENV_TEXT_CHUNK_TOKENS = "TEXT_CHUNK_TOKENS"  # text_embedding model tokens per chunk, [CLS]/[SEP] not counted
ENV_TEXT_CHUNK_OVERLAP = "TEXT_CHUNK_OVERLAP"  # model tokens shared by consecutive chunks
ENV_MODEL_BATCH_SIZE = "MODEL_BATCH_SIZE"  # model containers: items per forward pass
ENV_AWS_ENDPOINT_URL = "AWS_ENDPOINT_URL"  # boto3 honours it; set only by the local run
# boto3 honours it for sagemaker-runtime alone; set only by the local run (local/sagemaker_runtime.py)
ENV_SAGEMAKER_RUNTIME_ENDPOINT_URL = "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME"
# search function only (functions/search/settings.py): JSON list of the buckets it may return
# objects of, and the optional JSON {IAM principal ARN pattern: [key prefixes]} allow-list
ENV_SEARCH_BUCKETS = "SEARCH_BUCKETS"
ENV_SEARCH_ACCESS = "SEARCH_ACCESS"
# scan (functions/compliance): JSON {"moderation_threshold", "moderation_labels", "profanity_threshold",
# "redact"} from cdk.json's compliance settings; and the salt of the findings' value hashes (a Secrets Manager ARN deployed).
ENV_COMPLIANCE = "COMPLIANCE"

# --- Video chunking (functions/processing/chunking/scenes.py) ---------------------------------
# scenes: a chunk per scene (FFmpeg's scene detector), long scenes in fixed windows;
# fixed: windows of VIDEO_CHUNK_SECONDS, whatever the picture does.
VIDEO_CHUNKING_SCENES: Final = "scenes"
VIDEO_CHUNKING_FIXED: Final = "fixed"
VideoChunking = Literal["scenes", "fixed"]
VIDEO_CHUNKINGS: tuple[str, ...] = get_args(VideoChunking)

# --- Text chunks fit the text_embedding model (all-MiniLM-L6-v2) -----------------
# Its max_seq_length (sentence_bert_config.json): "input text longer than 256 word pieces is
# truncated" (https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2#intended-uses), so
# text past it would never be embedded. Its tokenizer adds [CLS] and [SEP] around every input.
TEXT_EMBEDDING_MAX_TOKENS = 256
TEXT_EMBEDDING_SPECIAL_TOKENS = 2
TEXT_CHUNK_MAX_TOKENS = TEXT_EMBEDDING_MAX_TOKENS - TEXT_EMBEDDING_SPECIAL_TOKENS

# --- Powertools -----------------------------------------------------------------
POWERTOOLS_SERVICE = "multimodal-pipeline"
METRICS_NAMESPACE = "MultimodalPipeline"
METRIC_FILES_IN = "FilesIn"
METRIC_FILES_PROCESSED = "FilesProcessed"
METRIC_FILES_FAILED = "FilesFailed"
METRIC_DIMENSION_MODALITY = "modality"
# Seconds a step waited for a model endpoint scaled to zero to start a copy (dimension "role").
METRIC_MODEL_CAPACITY_WAIT = "ModelCapacityWaitSeconds"
METRIC_DIMENSION_ROLE = "role"
# The scan step's files (no dimension), those with any compliance flag (no dimension: the alarm's
# rate is the second over the first), and those with each flag (dimension "flag":
# "pii:<TYPE>" or "moderation:<LABEL>").
METRIC_FILES_SCANNED = "FilesScanned"
METRIC_FILES_WITH_FLAGS = "FilesWithFlags"
METRIC_FLAGGED_FILES = "FlaggedFiles"
METRIC_DIMENSION_FLAG = "flag"

# --- Staging area layout (S3 keys); deterministic so that re-runs overwrite ----
STAGING_PREFIX = "staging"
FAILED_PREFIX = "failed"
# --- Ingest bucket: what extract writes back for the pipeline to process on its own ---------
# Each attachment of an e-mail message becomes an object of its own at
# attachments/<message key>/<n>-<safe file name> (functions/processing/formats/eml.py); its S3
# notification sends it through the pipeline like an upload. The extract role may write only here.
ATTACHMENTS_PREFIX = "attachments"

# --- Database ---------------------------------------------------------------------
DB_NAME = "pipeline"
DB_APP_USER = "pipeline_app"
DB_SCHEMA = "pipeline"
TABLE_OBJECTS = "objects"
TABLE_CHUNKS = "chunks"
TABLE_EMBEDDINGS = "embeddings"
TABLE_FAILURES = "failures"
TABLE_FINDINGS = "findings"
TABLE_MIGRATIONS = "schema_migrations"

# --- Stack outputs (read by the README, the DAGs and the local run) --------------
OUTPUT_INGEST_BUCKET = "IngestBucketName"
OUTPUT_STAGING_BUCKET = "StagingBucketName"
OUTPUT_STATE_MACHINE_ARN = "StateMachineArn"
OUTPUT_KAFKA_TOPIC = "KafkaTopic"
OUTPUT_DB_PROXY_ENDPOINT = "DatabaseProxyEndpoint"
OUTPUT_DB_SECRET_ARN = "DatabaseSecretArn"
OUTPUT_DASHBOARD = "DashboardName"
OUTPUT_MWAA_WEBSERVER = "AirflowWebServerUrl"
OUTPUT_BACKFILL_STATE_MACHINE_ARN = "BackfillStateMachineArn"
OUTPUT_SEARCH_URL = "SearchFunctionUrl"
OUTPUT_SEARCH_CALLER_POLICY = "SearchCallerPolicyArn"

# --- Step Functions limits we design for ---------------------------------------
# https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html (256 KiB payload)
MAX_STATE_PAYLOAD_BYTES = 256 * 1024
# https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html (name <= 80)
MAX_EXECUTION_NAME = 80
# https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html (Standard: 25,000 events
# in one execution's history; the event that would pass it fails the execution with States.Runtime)
MAX_HISTORY_EVENTS = 25_000
