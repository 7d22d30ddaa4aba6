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
 * or the helpers below.
 */
import { ConnectError, createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";

import {
  BadRequestSchema,
  ErrorInfoSchema,
  type BadRequest_FieldViolation,
  type ErrorInfo,
} from "./gen/google/rpc/error_details_pb.js";
import { CohortService } from "./gen/learning/v1/cohort_service_pb.js";

/** ErrorInfo.domain of every error the service reports. */
export const ERROR_DOMAIN = "cohorts.learning.v1";

/** A bearer token, or a function returning the current one (called per request). */
export type TokenSource = string | (() => string | Promise<string>);

export type CohortsClient = Client<typeof CohortService>;

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

/** Interceptor adding `authorization: Bearer <token>` to every request. */
export function bearerAuth(token: TokenSource): Interceptor {
  return (next) => async (request) => {
    const value = typeof token === "function" ? await token() : token;
    request.header.set("authorization", `Bearer ${value}`);
    return next(request);
  };
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

/** The error's google.rpc.ErrorInfo, if it carries one. */
export function errorInfo(error: unknown): ErrorInfo | undefined {
  return ConnectError.from(error).findDetails(ErrorInfoSchema)[0];
}

/** Every google.rpc.BadRequest field violation the error carries. */
export function fieldViolations(error: unknown): BadRequest_FieldViolation[] {
  return ConnectError.from(error)
    .findDetails(BadRequestSchema)
    .flatMap((detail) => detail.fieldViolations);
}
