"""The HTTP/JSON and gRPC-Web face of CohortService: Envoy, configured from the contract."""
