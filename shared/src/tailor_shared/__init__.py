"""Tailor common library: config, logging, errors, gRPC bootstrap, Kafka, Avro, local stack."""
