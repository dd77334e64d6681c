"""Tailor's developer tooling (the ``tailor`` command, the local stack, the demo, clients, synthetic data and
workloads). Depends on ``tailor_shared`` only and ships in no service image."""
