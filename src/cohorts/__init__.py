"""CohortService: a multi-tenant gRPC service that stores and serves cohorts."""
