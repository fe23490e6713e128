"""The deployable product: one construct per concern, wired by cdk_app.pipeline_stack."""
