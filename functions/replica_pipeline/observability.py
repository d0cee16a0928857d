"""Names shared by the handlers' metrics and the stack's alarms and dashboard."""

METRICS_NAMESPACE = "ReplicaPipeline"
