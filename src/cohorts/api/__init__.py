"""The gRPC edge: protobuf mapping, servicer, interceptors, error mapping."""
