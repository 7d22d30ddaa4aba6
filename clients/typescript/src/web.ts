/**
 * A CohortService client over gRPC-Web, for browsers (and Node.js 20+ through `fetch`),
 * through the gateway `cohorts serve` starts on COHORTS_HTTP_LISTEN.
 *
 *     const client = createCohortsWebClient({
 *       baseUrl: "https://cohorts.example.com",  // the gateway, not the gRPC port
 *       token: () => session.jwt(),
 *     });
 *     const cohort = await client.getCohort({ id });
 *
 * The page's origin must be listed in the server's COHORTS_HTTP_CORS_ORIGINS.
 * Errors carry the same google.rpc details as over gRPC (`errorInfo`, `fieldViolations`).
 */
import { createClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";

import { bearerAuth, type CohortsClient, type TokenSource } from "./common.js";
import { CohortService } from "./gen/learning/v1/cohort_service_pb.js";

export * from "./common.js";
export * from "./gen/learning/v1/cohort_pb.js";
export * from "./gen/learning/v1/cohort_service_pb.js";
export * from "./gen/google/rpc/error_details_pb.js";
export { Code, ConnectError } from "@connectrpc/connect";

export interface CohortsWebClientOptions {
  /** The gateway's base URL, e.g. `http://127.0.0.1:8080`. */
  baseUrl: string;
  /** Sent as `authorization: Bearer <token>` on every call. */
  token: TokenSource;
  /** Deadline for each call unless the call passes its own `timeoutMs`. Default 10 s. */
  defaultTimeoutMs?: number;
  /** Interceptors run after the one that adds the token. */
  interceptors?: Interceptor[];
}

export function createCohortsWebClient(options: CohortsWebClientOptions): CohortsClient {
  const transport = createGrpcWebTransport({
    baseUrl: options.baseUrl,
    defaultTimeoutMs: options.defaultTimeoutMs ?? 10_000,
    interceptors: [bearerAuth(options.token), ...(options.interceptors ?? [])],
  });
  return createClient(CohortService, transport);
}
