"""ORES v3 on top of Triton: many models x many revisions in one request.

`routes` holds the HTTP API (ORES' paths, parameters, answers and errors) and the entry of
`transformers_svc.server.ROUTES` (`ores_v3_routes`), `scorer` the one pass per request
(cache, one fetch, one feature solve, one Triton call per model), `model_info` what a
model says about itself, `params` ORES' parameter rules. Nothing is imported here, so that
the light modules load without KServe (a process must not hold both KServe's and
tritonclient's gRPC protobufs).
"""
