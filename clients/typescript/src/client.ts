/**
 * A CohortService client over the gRPC protocol (HTTP/2), for Node.js.
 *
 *     const { client, close } = createCohortsClient({
 *       baseUrl: "http://127.0.0.1:50051",   // h2c; use https:// for TLS
 *       token: () => tokens.current(),        // or a fixed string
 *     });
 *     const cohort = await client.createCohort({ cohort: { name: "Spring 2027" } });
 *     close();
 *
 * Errors arrive as ConnectError; read the server's google.rpc details with
 * `err.findDetails(BadRequestSchema)` / `err.findDetails(ErrorInfoSchema)`,
 * or the `errorInfo` / `fieldViolations` helpers (common.ts).
 */
import { createClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";

import { bearerAuth, type CohortsClient, type TokenSource } from "./common.js";
import { CohortService } from "./gen/learning/v1/cohort_service_pb.js";

export interface CohortsClientOptions {
  /** Server address, e.g. `http://127.0.0.1:50051` (plaintext HTTP/2) or `https://...`. */
  baseUrl: string;
  /** Sent as `authorization: Bearer <token>` on every call. */
  token: TokenSource;
  /** Deadline for each call unless the call passes its own `timeoutMs`. Default 10 s. */
  defaultTimeoutMs?: number;
  /** Interceptors run after the one that adds the token. */
  interceptors?: Interceptor[];
}

export interface CohortsConnection {
  client: CohortsClient;
  /** Closes the HTTP/2 connection; calls made afterwards open a new one. */
  close(): void;
}

export function createCohortsClient(options: CohortsClientOptions): CohortsConnection {
  const sessionManager = new Http2SessionManager(options.baseUrl);
  const transport = createGrpcTransport({
    baseUrl: options.baseUrl,
    sessionManager,
    defaultTimeoutMs: options.defaultTimeoutMs ?? 10_000,
    interceptors: [bearerAuth(options.token), ...(options.interceptors ?? [])],
  });
  return {
    client: createClient(CohortService, transport),
    close: () => sessionManager.abort(),
  };
}
