"""Tailor common library: config, logging, errors, gRPC bootstrap, Kafka, Avro, Redis keys, resource view."""
