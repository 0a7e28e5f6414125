"""The sidecar: an OTLP receiver (HTTP and gRPC) that spools LLM spans for delivery to Label Studio."""
