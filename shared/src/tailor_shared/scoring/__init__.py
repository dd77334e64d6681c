"""The scoring code of every path that answers a recommendation request (ADR 0016): the online runtime and the
batch worker import it, so a batch line equals the online answer.

``model`` (what a loaded solution version offers), ``filtering`` (filters as masks over the model's item index),
``ranking`` (scores -> Personalize's item list) and ``answer`` (one request, end to end, given the user's state)
are pure; ``loader`` reads a model directory with onnxruntime and is imported only by the services that score
(runtime, batch), which depend on onnxruntime themselves.
"""
