// Type declarations for flask-realtime-client.
import type { Socket, ManagerOptions, SocketOptions } from "socket.io-client";

/** Handshake, kick and refresh codes after which the client stops. */
export declare const TERMINAL_CODES: readonly string[];
/** Codes after which the client retries with backoff (`token_expired` refreshes first). */
export declare const RETRYABLE_CODES: readonly string[];

export type ConnectionState = "idle" | "connecting" | "connected" | "refreshing" | "reconnecting" | "stopped";

export interface Status {
  readonly state: ConnectionState;
  /** Why: the last failure while reconnecting, the reason when stopped, else null. */
  readonly code: string | null;
  /** Consecutive failed attempts. */
  readonly attempt: number;
  /** While waiting to reconnect: the delay of this wait. */
  readonly retryInMs?: number;
}

export interface BackoffOptions {
  initialMs?: number;
  maxMs?: number;
  factor?: number;
  jitter?: number;
  maxAttempts?: number;
}

export interface SessionInfo {
  user: { id: string; username: string };
  sid: string;
  expires_at: number;
}

export interface ErrorAck {
  ok: false;
  error: { code: string; message: string; retry_after?: number };
}

export type Ack<T = Record<string, unknown>> = ({ ok: true } & T) | ErrorAck;

export interface CreateSocketOptions {
  /** Server origin; default: the page's origin. */
  url?: string;
  /** Socket.IO path; default "/socket.io". */
  path?: string;
  /** The current access token; called on every handshake (required unless `tokenInCookie`). */
  getToken?: () => string | null | undefined | Promise<string | null | undefined>;
  /**
   * The server reads the token from the app's HttpOnly access cookie: no token in the
   * handshake, cookies sent with it, and before exp `refreshToken()` (which sets a new access
   * cookie) followed by a reconnect, since a live WebSocket never sees a new cookie.
   */
  tokenInCookie?: boolean;
  /**
   * Get a new access token (e.g. the REST refresh). Reject with an Error whose `code` is the
   * server's error code to stop (network errors, `rate_limited`, `unavailable` and
   * `internal_error` are retried); getToken() must return the new token afterwards. With
   * `tokenInCookie`, it only has to succeed (its response sets the new cookie).
   */
  refreshToken?: () => Promise<string | unknown>;
  onStatus?: (status: Status) => void;
  /** Every server event, plus "refreshed", "refresh_failed", "retry" and "connect_error". */
  onEvent?: (name: string, payload: any) => void;
  connectTimeoutMs?: number;
  refreshMarginS?: number;
  refreshFraction?: number;
  ackTimeoutMs?: number;
  backoff?: BackoffOptions;
  transports?: string[];
  autoStart?: boolean;
  ioOptions?: Partial<ManagerOptions & SocketOptions>;
}

export interface RealtimeClient {
  readonly status: Status;
  readonly session: SessionInfo | null;
  readonly expiresAt: number | null;
  readonly secondsLeft: number | null;
  readonly connected: boolean;
  /** The socket of the current attempt; it changes on every reconnect. */
  readonly socket: Socket | null;
  start(): RealtimeClient;
  /** Subscribe to a server event (kept across reconnects); returns an unsubscribe function. */
  on(event: string, fn: (payload: any) => void): () => void;
  off(event: string, fn: (payload: any) => void): void;
  /** Rejects with a RealtimeError (`not_connected`, `ack_timeout`); a refused event resolves with `{ok: false, error}`. */
  emitWithAck<T = Record<string, unknown>>(event: string, payload?: unknown, timeoutMs?: number): Promise<Ack<T>>;
  emit(event: string, payload?: unknown): boolean;
  /** Get a new token with refreshToken() and swap it in place now. */
  refreshNow(): Promise<void>;
  /** Swap in a token the app already has, in place (no-op for the token in use). */
  setToken(token: string): Promise<void>;
  /** Stop for good: clears every timer and disconnects. */
  close(): void;
}

export declare class RealtimeError extends Error {
  constructor(code: string, message?: string, data?: unknown);
  code: string;
  data?: unknown;
}

export declare function createSocket(options: CreateSocketOptions): RealtimeClient;
/** "connected", "stopped: token_revoked", ... */
export declare function formatStatus(status: Status | null | undefined): string;
/** Delay (ms) before retry number `attempt` (1-based), with jitter. */
export declare function backoffDelay(attempt: number, options?: BackoffOptions, random?: () => number): number;
/** `dm.<a>.<b>`, the two usernames sorted. */
export declare function dmRoom(a: string, b: string): string;
