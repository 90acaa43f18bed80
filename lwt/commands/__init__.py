"""One module per `lwt` subcommand group: its argparse registration and handlers.

Handlers import the flow they run inside the function: `lwt --help` and unrelated
commands stay fast (torch, onnx and KServe take seconds to import), and no process loads
both tritonclient's and KServe's gRPC protobufs (they clash in protobuf's default pool).
"""
