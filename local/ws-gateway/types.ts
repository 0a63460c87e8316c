// The local WebSocket gateway's public shapes: its options, its counters, the handle it returns.
import type { AwsLimits } from '../aws-limits';
import type { Invoke } from '../lambda-context';
import { MAX_MESSAGE_BYTES } from '../../shared/domain/protocol';

// `any` on purpose: the gateway builds the events by hand, and each handler module types its own.
export type { Invoke };

export interface WsRoute {
  readonly invoke: Invoke;
  /** Whether the handler's `body` is sent back to the caller (a two-way route). */
  readonly returnResponse: boolean;
}

export interface WsAuthorizer {
  /** `route.request.querystring.X` or `route.request.header.X`; a missing one refuses with 401 unseen. */
  readonly identitySource: readonly string[];
  readonly invoke: Invoke;
}

/** One call to the management API. */
export interface ManagementCall {
  readonly op: 'post' | 'get' | 'delete';
  readonly connectionId: string;
  /** Size of the posted data; 0 for get and delete. */
  readonly bytes: number;
}

export interface WsGatewayOptions {
  /** 0 picks a free port. */
  readonly port: number;
  readonly host?: string;
  /** The `$connect` REQUEST authorizer. */
  readonly authorizer?: WsAuthorizer;
  /** Route key → handler, including `$connect`, `$disconnect` and `$default` when configured. */
  readonly routes: ReadonlyMap<string, WsRoute>;
  /** No message from the client for this long closes the socket (AWS: 10 min). */
  readonly idleTimeoutMs?: number;
  /** A connection is closed this long after it opened (AWS: 2 h). */
  readonly maxLifetimeMs?: number;
  /**
   * New connections admitted per second, as API Gateway's account limit (500/s by default); past
   * it a handshake is refused 429 at once and the client retries. 0: unlimited.
   */
  readonly connectRatePerSecond?: number;
  /** The new-connection bucket's capacity. Default: a second's worth of the rate. */
  readonly connectBurst?: number;
  /**
   * Handshakes (authorizer + `$connect`) running at once; up to 512 more wait in a queue for at
   * most 5 s, and past either are refused 503. One process and one DynamoDB Local serve them all
   * here: without a bound a wave of 1,500 queues on the SDK's sockets and the kernel's accept
   * queue until handshakes time out or are reset. Default 32.
   */
  readonly maxConcurrentHandshakes?: number;
  /**
   * The longest a handshake may take from `connectedAt` (the authorizer's and `$connect`'s Lambda
   * timeouts on AWS: shared/routes.ts HANDSHAKE_MAX_MS). Past it the handshake is refused 503, a
   * load refusal the client retries (PROTOCOL v1.1: a handshake refused for load answers 429 or 503,
   * never another 5xx — AWS would end the timed-out integration); the handler may still finish (a
   * row it writes late is the worker's to find gone). The delivery worker takes a 410 within it as
   * "still connecting": without the bound an overloaded local stage opened connections later than
   * that, and a worker deleted their rows.
   * Default: unbounded.
   */
  readonly handshakeTimeoutMs?: number;
  /**
   * Says why the backend cannot serve now (DynamoDB Local is down and restarting), or undefined
   * when it can: handshakes are then refused 503 without running the authorizer.
   */
  readonly unavailable?: () => string | undefined;
  /**
   * Benchmarks: told of every management call's answer (its HTTP status: 429 from `limits`
   * included), so calls and 429s can be counted per connection rather than only in total.
   */
  readonly onManagementAnswer?: (call: ManagementCall, status: number) => void;
  /**
   * AWS's @connections limits (latency, account token bucket, injected 410s), applied to every
   * management call, real and virtual connections alike. Unset: none, and no per-call cost.
   */
  readonly limits?: AwsLimits;
  /**
   * Tests only: take `requestContext.identity.sourceIp` from the first address of the handshake's
   * `X-Forwarded-For` (when it is one), so one machine can stand for viewers on many networks. AWS
   * never does this: a client can put anything in that header. Default false.
   */
  readonly trustForwardedFor?: boolean;
  /** Lifecycle and failure lines only; nothing is logged per message or per post. */
  readonly log?: (line: string) => void;
}

export interface WsGatewayStats {
  connectionsAccepted: number;
  /** Every refused handshake, for whatever reason (the next two included). */
  connectionsRefused: number;
  /** Refused 429: over the new-connection rate. */
  handshakesThrottled: number;
  /** Refused 503: no handshake slot, a backend short of capacity, or the backend down. */
  handshakesUnavailable: number;
  /** Refused 503 (counted in handshakesUnavailable too): the authorizer and `$connect` together took longer than handshakeTimeoutMs. */
  handshakesTimedOut: number;
  connectionsOpen: number;
  disconnects: number;
  messagesIn: number;
  handlerErrors: number;
  postsOut: number;
  postsGone: number;
  postsTooLarge: number;
  gets: number;
  deletes: number;
  /** Virtual connections now (connectionsOpen counts sockets only). */
  virtualConnectionsOpen: number;
  /** Of postsOut, those delivered to virtual connections. */
  virtualPostsOut: number;
  /** `limits`: calls answered 429 LimitExceededException by the token bucket. */
  throttled: number;
  /** `limits`: posts answered 410 by the goneRate draw (also counted in postsGone). */
  injectedGone: number;
  /** `limits`: calls held for latency, the sum and the largest of what they were held (ms). */
  delayedCalls: number;
  delayTotalMs: number;
  delayMaxMs: number;
}

export const newStats = (): WsGatewayStats => ({
  connectionsAccepted: 0,
  connectionsRefused: 0,
  handshakesThrottled: 0,
  handshakesUnavailable: 0,
  handshakesTimedOut: 0,
  connectionsOpen: 0,
  disconnects: 0,
  messagesIn: 0,
  handlerErrors: 0,
  postsOut: 0,
  postsGone: 0,
  postsTooLarge: 0,
  gets: 0,
  deletes: 0,
  virtualConnectionsOpen: 0,
  virtualPostsOut: 0,
  throttled: 0,
  injectedGone: 0,
  delayedCalls: 0,
  delayTotalMs: 0,
  delayMaxMs: 0,
});

/** Options of addVirtualConnections. */
export interface VirtualConnectionOptions {
  /** Each post's body (the received bytes, not a copy: copy it to keep it past the call), and `performance.now()` at delivery. */
  readonly onMessage?: (connectionId: string, data: Buffer, receivedAt: number) => void;
  /**
   * The gateway ended a virtual connection: DeleteConnection (`deleted`), an injected 410
   * (`gone`), or a post over 128 KiB (`tooLarge`; AWS closes such a socket with 1009). Not called
   * for removeVirtualConnections. No $disconnect runs for virtual connections: no $connect did.
   */
  readonly onClose?: (connectionId: string, cause: 'deleted' | 'gone' | 'tooLarge') => void;
}

export interface WsGateway {
  readonly port: number;
  /** `ws://host:port` — clients may use any path. */
  readonly url: string;
  /** `http://host:port`, what ApiGatewayManagementApiClient takes as `endpoint`. */
  readonly managementEndpoint: string;
  /** Open sockets; virtual connections are counted by virtualCount(). */
  connectionCount(): number;
  stats(): WsGatewayStats;
  /**
   * Connections without a socket that take posts like real ones (answers, limits, counters), so
   * a machine can simulate 100,000 viewers. The caller picks the ids (e.g. `v-000123`); an id
   * shaped like a gateway-issued one (15 base64 characters and `=`) is refused so the two can
   * never collide, as is one already in use. All or nothing: on a refused id none is added.
   */
  addVirtualConnections(ids: readonly string[], opts?: VirtualConnectionOptions): void;
  /** Drops them silently (unknown ids are ignored): the caller ending its own simulation. */
  removeVirtualConnections(ids: readonly string[]): void;
  virtualCount(): number;
  /** Closes every socket (each gets its $disconnect), stops listening. */
  close(): Promise<void>;
}

/** API Gateway's WebSocket frame limit, in both directions (shared/domain/protocol.ts: the contract's number). */
export const maxMessageBytes = MAX_MESSAGE_BYTES;

/** Lifecycle and failure lines. */
export type Log = (line: string) => void;

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** An error as a log line: its stack when it has one. */
export function describe(err: unknown): string {
  return err instanceof Error ? (err.stack ?? err.message) : String(err);
}
