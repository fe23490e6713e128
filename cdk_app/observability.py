"""Observability: one dashboard for the whole pipeline and alarms to an SNS topic."""
from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from cdk_app.backfill import Backfill
from cdk_app.config import PipelineConfig
from cdk_app.database import Database
from cdk_app.models import Models
from cdk_app.orchestration import Orchestration
from cdk_app.storage import Storage
from cdk_app.streaming import Streaming
from functions.common import constants as c

_PERIOD = Duration.minutes(5)


def _executions_graph(title: str, sm: sfn.StateMachine, width: int) -> cw.GraphWidget:
    """A graph of one state machine's started, succeeded, failed and timed-out executions."""
    return cw.GraphWidget(
        title=title,
        left=[sm.metric_started(period=_PERIOD), sm.metric_succeeded(period=_PERIOD),
              sm.metric_failed(period=_PERIOD), sm.metric_timed_out(period=_PERIOD)],
        width=width,
    )


class Observability(Construct):
    """Exposes `dashboard`, `alarm_topic` and `alarms` (name -> Alarm)."""

    def __init__(self, scope: Construct, construct_id: str, *, config: PipelineConfig, storage: Storage,
                 streaming: Streaming, orchestration: Orchestration, models: Models, database: Database,
                 backfill: Backfill | None = None) -> None:
        super().__init__(scope, construct_id)
        self.alarm_topic = sns.Topic(self, "Alarms", master_key=storage.key, enforce_ssl=True)
        self.alarm_topic.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[self.alarm_topic.topic_arn],
            )
        )
        storage.allow_cloudwatch_alarms()
        if config.alarm_email:
            self.alarm_topic.add_subscription(subs.EmailSubscription(config.alarm_email))

        sm: sfn.StateMachine = orchestration.state_machine
        per_modality = lambda name: [  # noqa: E731 - small metric factory
            cw.Metric(
                namespace=c.METRICS_NAMESPACE,
                metric_name=name,
                dimensions_map={"service": c.POWERTOOLS_SERVICE, c.METRIC_DIMENSION_MODALITY: m},
                statistic="Sum",
                period=_PERIOD,
                label=m,
            )
            for m in config.modalities
        ]
        dispatcher = streaming.dispatcher.function
        offset_lag = cw.Metric(
            namespace="AWS/Lambda",
            metric_name="OffsetLag",
            dimensions_map={"FunctionName": dispatcher.function_name},
            statistic="Maximum",
            period=Duration.minutes(1),
            label="Kafka consumer lag (records)",
        )

        self.dashboard = cw.Dashboard(self, "Dashboard", dashboard_name=f"{config.prefix}-pipeline")
        self.dashboard.add_widgets(
            cw.GraphWidget(title="Files in per modality", left=per_modality(c.METRIC_FILES_IN), width=8),
            cw.GraphWidget(title="Files processed per modality", left=per_modality(c.METRIC_FILES_PROCESSED), width=8),
            cw.GraphWidget(title="Files failed per modality", left=per_modality(c.METRIC_FILES_FAILED), width=8),
        )
        self.dashboard.add_widgets(
            _executions_graph("Executions", sm, width=8),
            cw.GraphWidget(
                title="Execution duration (ms)",
                left=[sm.metric_time(statistic="p50", period=_PERIOD), sm.metric_time(statistic="p95", period=_PERIOD)],
                width=8,
            ),
            cw.GraphWidget(title="MSK consumer lag", left=[offset_lag], width=8),
        )
        endpoint_widgets = []
        for role, name in models.component_names.items():
            dims = {"InferenceComponentName": name}
            endpoint_widgets.append(
                cw.GraphWidget(
                    title=f"{role} model",
                    left=[cw.Metric(namespace="AWS/SageMaker", metric_name=metric, dimensions_map=dims,
                                    statistic="Sum", period=_PERIOD)
                          for metric in ("Invocations", "Invocation4XXErrors", "Invocation5XXErrors",
                                         "NoCapacityInvocationFailures")],
                    right=[cw.Metric(namespace="AWS/SageMaker", metric_name="ModelLatency", dimensions_map=dims,
                                     statistic="p95", period=_PERIOD, label="p95 model latency (us)")],
                    width=6,
                )
            )
        if endpoint_widgets:
            # Scaled to zero while idle: after a quiet night the first files wait for a copy to start.
            endpoint_widgets.append(cw.GraphWidget(
                title="Waiting for model capacity (s, per 5 min)",
                left=[cw.Metric(namespace=c.METRICS_NAMESPACE, metric_name=c.METRIC_MODEL_CAPACITY_WAIT,
                                dimensions_map={"service": c.POWERTOOLS_SERVICE, c.METRIC_DIMENSION_ROLE: role},
                                statistic="Sum", period=_PERIOD, label=role)
                      for role in models.component_names],
                width=6,
            ))
            self.dashboard.add_widgets(*endpoint_widgets)
        self.dashboard.add_widgets(
            cw.GraphWidget(
                title="Function errors",
                left=[fn.function.metric_errors(period=_PERIOD, label=step) for step, fn in orchestration.functions.items()]
                + [streaming.forwarder.function.metric_errors(period=_PERIOD, label="forwarder"),
                   dispatcher.metric_errors(period=_PERIOD, label="dispatcher")],
                width=12,
            ),
            cw.GraphWidget(
                title="Database",
                left=[database.cluster.metric_cpu_utilization(period=_PERIOD),
                      database.cluster.metric_database_connections(period=_PERIOD)],
                right=[database.cluster.metric("ServerlessDatabaseCapacity", statistic="Average", period=_PERIOD)],
                width=12,
            ),
        )

        self.dashboard.add_widgets(*self._compliance_widgets())

        files_failed = cw.MathExpression(
            expression="+".join(f"m{i}" for i in range(len(config.modalities))),
            using_metrics={f"m{i}": m for i, m in enumerate(per_modality(c.METRIC_FILES_FAILED))},
            period=_PERIOD, label="files failed",
        )
        alarms = {
            "ExecutionsFailed": self._alarm(
                "ExecutionsFailedAlarm", sm.metric_failed(period=_PERIOD), threshold=1, evaluation_periods=1,
                description="A pipeline execution failed (a batch could not even record its failures)"),
            "FilesFailed": self._alarm(
                "FilesFailedAlarm", files_failed, threshold=10, evaluation_periods=1,
                description="More than 10 files failed in 5 minutes: look at pipeline.failures"),
            "ForwarderDlq": self._alarm(
                "ForwarderDlqAlarm", storage.forwarder_dlq.metric_approximate_number_of_messages_visible(period=_PERIOD),
                threshold=1, evaluation_periods=1,
                description="S3 events could not be published to Kafka; they wait in the DLQ"),
            "ConsumerLag": self._alarm(
                "ConsumerLagAlarm", offset_lag, threshold=10000, evaluation_periods=5,
                description="The dispatcher falls behind the topic for 5 minutes"),
            "DispatcherErrors": self._alarm(
                "DispatcherErrorsAlarm", dispatcher.metric_errors(period=_PERIOD), threshold=1, evaluation_periods=2,
                description="Dispatcher invocations are failing (Kafka batches are being retried)"),
            "DatabaseCpu": self._alarm(
                "DatabaseCpuAlarm", database.cluster.metric_cpu_utilization(period=_PERIOD),
                threshold=85, evaluation_periods=3,
                description="Aurora CPU above 85% for 15 minutes: raise max ACU"),
        }
        alarms["FlaggedRate"] = self._flagged_rate_alarm(config)
        if backfill is not None:
            alarms.update(self._backfill(backfill))
        for role, name in models.component_names.items():
            alarms.update(self._endpoint_alarms(role, name))
        action = cw_actions.SnsAction(self.alarm_topic)
        for alarm in alarms.values():
            alarm.add_alarm_action(action)
        self.alarms = alarms

    @staticmethod
    def _scan_metric(name: str, period: Duration, label: str) -> cw.Metric:
        return cw.Metric(namespace=c.METRICS_NAMESPACE, metric_name=name,
                         dimensions_map={"service": c.POWERTOOLS_SERVICE}, statistic="Sum", period=period, label=label)

    def _compliance_widgets(self) -> list[cw.GraphWidget]:
        """Files with each compliance flag (one line per flag the scan step has published: the
        flags are values such as pii:CREDIT_CARD, so a SEARCH finds them), and scanned vs flagged."""
        per_flag = cw.MathExpression(
            expression=(f"SEARCH('{{{c.METRICS_NAMESPACE},service,{c.METRIC_DIMENSION_FLAG}}} "
                        f"MetricName=\"{c.METRIC_FLAGGED_FILES}\"', 'Sum', {int(_PERIOD.to_seconds())})"),
            label="", period=_PERIOD)
        return [
            cw.GraphWidget(title="Files flagged, per flag (personal data type, moderation label)", left=[per_flag],
                           width=12),
            cw.GraphWidget(title="Files scanned and flagged",
                           left=[self._scan_metric(c.METRIC_FILES_SCANNED, _PERIOD, "scanned"),
                                 self._scan_metric(c.METRIC_FILES_WITH_FLAGS, _PERIOD, "with any flag")],
                           width=12),
        ]

    def _flagged_rate_alarm(self, config: PipelineConfig) -> cw.Alarm:
        """Share of scanned files with any flag above compliance.flagged_rate_alarm over
        compliance.alarm_period_minutes, counted once at least alarm_min_files were scanned."""
        settings = config.compliance
        period = Duration.minutes(settings.alarm_period_minutes)
        rate = cw.MathExpression(
            expression=f"IF(scanned >= {settings.alarm_min_files}, flagged / scanned, 0)",
            using_metrics={"scanned": self._scan_metric(c.METRIC_FILES_SCANNED, period, "scanned"),
                           "flagged": self._scan_metric(c.METRIC_FILES_WITH_FLAGS, period, "with any flag")},
            period=period, label="share of scanned files with a compliance flag",
        )
        return rate.create_alarm(
            self, "FlaggedRateAlarm", threshold=settings.flagged_rate_alarm, evaluation_periods=1,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,  # nothing scanned: nothing to say
            alarm_description=(f"More than {settings.flagged_rate_alarm:.0%} of the files scanned in "
                               f"{settings.alarm_period_minutes} minutes carry a compliance flag (personal data or "
                               "an unsafe image): see pipeline.findings"))

    def _alarm(self, construct_id: str, metric: cw.Metric | cw.MathExpression, *, threshold: float, evaluation_periods: int,
               description: str) -> cw.Alarm:
        """An alarm on `metric` in this construct. Missing data does not breach: a quiet pipeline
        reports no data points for most of these metrics (no executions, invocations or failed files)."""
        return metric.create_alarm(self, construct_id, threshold=threshold, evaluation_periods=evaluation_periods,
                                   alarm_description=description, treat_missing_data=cw.TreatMissingData.NOT_BREACHING)

    def _endpoint_alarms(self, role: str, name: str) -> dict[str, cw.Alarm]:
        """Alarms on the status codes the endpoint's container can actually return.

        The Hugging Face toolkit answers every exception in the model code with 400
        (handler_service.handle), so a broken model shows as 4XX, not 5XX: a few 4XX are corrupt
        inputs (recorded as failure rows), a high share of them is the model failing everything.
        5XX come from multi-model-server itself (no free worker, a worker that died: 503) and
        from the service.
        """
        role_id = "".join(p.title() for p in role.split("_"))
        dims = {"InferenceComponentName": name}

        def metric(metric_name: str) -> cw.Metric:
            return cw.Metric(namespace="AWS/SageMaker", metric_name=metric_name, dimensions_map=dims,
                             statistic="Sum", period=_PERIOD)

        refused = cw.MathExpression(
            expression="100 * FILL(errors, 0) / invocations",
            using_metrics={"errors": metric("Invocation4XXErrors"), "invocations": metric("Invocations")},
            period=_PERIOD, label=f"{role}: % of invocations the model refused",
        )
        return {
            f"{role}Endpoint5xx": self._alarm(
                f"{role_id}Endpoint5xxAlarm", metric("Invocation5XXErrors"), threshold=5, evaluation_periods=1,
                description=f"{role} endpoint: the model server answers 5xx (no free worker, a worker died)"),
            f"{role}EndpointModelErrors": self._alarm(
                f"{role_id}EndpointModelErrorsAlarm", refused, threshold=20, evaluation_periods=3,
                description=f"{role} endpoint refuses over 20% of invocations for 15 minutes: the model code "
                            "or its weights fail on everything, not just on corrupt inputs (see its log stream)"),
        }

    def _backfill(self, backfill: Backfill) -> dict[str, cw.Alarm]:
        """A backfill runs for hours and nobody watches it: its widget, and alarms when its
        Distributed Map run fails or times out or its batch function keeps failing."""
        sm = backfill.batches.state_machine
        fn = backfill.batches.function.function
        self.dashboard.add_widgets(
            _executions_graph("Backfill runs", sm, width=12),
            cw.GraphWidget(
                title="Backfill batches",
                left=[fn.metric_invocations(period=_PERIOD, label="batches"),
                      fn.metric_errors(period=_PERIOD, label="failed batches")],
                right=[fn.metric_duration(statistic="p95", period=_PERIOD, label="p95 duration (ms)")],
                width=12,
            ),
        )
        failed_or_timed_out = cw.MathExpression(
            expression="failed + timedOut",
            using_metrics={"failed": sm.metric_failed(period=_PERIOD), "timedOut": sm.metric_timed_out(period=_PERIOD)},
            period=_PERIOD, label="backfill runs failed or timed out",
        )
        return {
            "BackfillFailed": self._alarm(
                "BackfillFailedAlarm", failed_or_timed_out, threshold=1, evaluation_periods=1,
                description="A backfill run failed or timed out: see its Map Run in the Step Functions console"),
            "BackfillBatchErrors": self._alarm(
                "BackfillBatchErrorsAlarm", fn.metric_errors(period=_PERIOD), threshold=5, evaluation_periods=2,
                description="Backfill batches keep failing (the Map run retries them, then tolerates up to its limit)"),
        }
