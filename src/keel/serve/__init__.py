"""Serving from the registry: a contract-checked HTTP API with micro-batching, a prediction
log, shadow and canary traffic, and guardrails that promote or roll back automatically."""
