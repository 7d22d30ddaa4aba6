"""The `ErrorInfo.domain` of every error the API reports, over gRPC and HTTP alike (AIP-193)."""

ERROR_DOMAIN = "cohorts.learning.v1"
