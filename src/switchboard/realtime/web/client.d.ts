// TypeScript declarations for Switchboard's browser client (client.js beside this
// file, served by the hub at <mount>/client.js and <mount>/client.d.ts).
// Reference: docs/realtime-client-js.md. Wire protocol: docs/realtime-protocol.md.
//
// The type parameters are optional; they let an editor check event names and
// payloads:
//
//     type Server = { "chat.message": { from: string; text: string } };
//     type Client = { "chat.send": { data: { room: string; text: string }; ack: { ok: boolean } } };
//     const hub = connect<Server, Client>("/rt");

/** The WebSocket subprotocol of the wire protocol this client speaks. */
export declare const PROTOCOL: "switchboard.v1";

/** The protocol version sent in `hello`. */
export declare const VERSION: 1;

/** Any JSON value. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Error codes sent by the hub (docs/realtime-protocol.md, "Errors"). */
export type HubErrorCode =
  | "bad_message"
  | "unknown_event"
  | "invalid_payload"
  | "rejected"
  | "rate_limited"
  | "too_large"
  | "not_allowed"
  | "too_many_rooms"
  | "unavailable"
  | "internal"
  // from the client itself:
  | "timeout"
  | "buffer_full"
  | "closed";

/**
 * An error reply from the hub (an error `ack`), or a failure of a request on the
 * client's side (`timeout`, `buffer_full`, `closed`, `too_large`).
 */
export declare class HubError extends Error {
  constructor(
    code: HubErrorCode | (string & {}),
    message?: string,
    extra?: { field?: string; retryAfter?: number; details?: unknown },
  );
  readonly name: "HubError";
  /** For programs: `"invalid_payload"`, `"timeout"`, … */
  readonly code: HubErrorCode | (string & {});
  /** `invalid_payload`: the dotted path of the bad field (`""` for the whole payload). */
  readonly field?: string;
  /** `rate_limited`: seconds to wait before trying again. */
  readonly retryAfter?: number;
  /** `rejected`: what the handler added, if anything. */
  readonly details?: unknown;
  /** The HubError for a wire `error` object. */
  static fromWire(error: unknown): HubError;
}

/** The connection's state. */
export type HubState = "connecting" | "connected" | "reconnecting" | "disconnected" | "failed";

/** What came with a change of state. */
export interface StateInfo {
  /** The close code that caused it (4401 for a refusal, 1006 for a dead connection). */
  readonly code?: number;
  /** The close reason (e.g. `"unauthorized: token expired"`). */
  readonly reason?: string;
  /** While reconnecting, the number of the next attempt (1, 2, …); else 0. */
  readonly attempt: number;
  /** While reconnecting, milliseconds until the next attempt. */
  readonly delay?: number;
  /** When connected: whether the previous session was resumed. */
  readonly resumed?: boolean;
}

/** Backoff between reconnection attempts, in milliseconds. */
export interface ReconnectOptions {
  /** The first retry's delay (default 500). */
  initial?: number;
  /** The longest delay (default 10000). */
  max?: number;
  /** Each retry waits `factor` times longer than the one before (default 2). */
  factor?: number;
  /** Up to this fraction of each delay is taken off at random (default 0.5). */
  jitter?: number;
}

export interface ConnectOptions {
  /**
   * Credentials sent in `hello` for the hub's `on_connect`. A function is called
   * before every connection attempt, so a reconnect can send a fresh token.
   */
  auth?: Json | (() => Json | Promise<Json>);
  /** Default milliseconds to wait for the reply to emit/join/leave (default 10000). */
  ackTimeout?: number;
  /** Milliseconds from opening the socket to the `welcome` before retrying (default 10000). */
  connectTimeout?: number;
  /** How many requests may wait while not connected (default 100). */
  buffer?: number;
  /** Backoff settings, or `false` never to reconnect. */
  reconnect?: ReconnectOptions | false;
}

/** Where an event came from. */
export interface EventMeta {
  readonly event: string;
  /** Present when the event was emitted to a room. */
  readonly room?: string;
  /** The publication's offset, when the room keeps history. */
  readonly offset?: number;
  /** The room's epoch, when it keeps history. */
  readonly epoch?: string;
  /** True for a missed publication delivered by recovery. */
  readonly replay?: boolean;
}

/** A position in a room's stream. Both are undefined for a room without history. */
export interface Position {
  readonly offset?: number;
  readonly epoch?: string;
}

export interface JoinResult {
  readonly room: string;
  readonly offset?: number;
  readonly epoch?: string;
  /**
   * `true`: the publications missed since the position were replayed; `false`: they
   * could not be (reload the room's state); `null`: no position was given.
   */
  readonly recovered: boolean | null;
}

export type RoomChange =
  | {
      readonly type: "joined";
      readonly room: string;
      readonly recovered: boolean | null;
      readonly offset?: number;
      readonly epoch?: string;
    }
  | { readonly type: "left"; readonly room: string; readonly error?: HubError };

/** A member of a room: a user, however many connections they have. */
export interface Member<Info = any> {
  readonly info: Info;
  readonly [more: string]: unknown;
}

export interface PresenceDiff<Info = any> {
  readonly joins: ReadonlyMap<string, Member<Info>>;
  readonly leaves: ReadonlyMap<string, Member<Info>>;
  /** True when the hub sent the whole state (after a join or a reconnect). */
  readonly full: boolean;
}

export interface User<Info = any> {
  readonly id: string;
  readonly info: Info;
}

/**
 * Events from the hub: name -> data. In all data, bytes from the hub are
 * Uint8Arrays, and Uint8Arrays (typed arrays, ArrayBuffers) sent become bytes.
 */
export type ServerEvents = Record<string, any>;
/** Emits to the hub: name -> {data, ack}. */
export type ClientEmits = Record<string, { data: any; ack: any }>;
/** Calls from the hub: name -> {data, reply}. */
export type ServerCalls = Record<string, { data: any; reply: any }>;

export interface EmitOptions {
  /** Milliseconds from now (default: the hub's `ackTimeout`; `Infinity`: none). */
  timeout?: number;
  /** Your own idempotency key (at most 100 characters) instead of a generated one. */
  key?: string;
}

/**
 * Where the hub is: a path or a ws/wss/http/https URL, or a non-empty list of them
 * (the hub's nodes, tried in order, round robin).
 */
export type HubUrls = string | URL | readonly (string | URL)[];

/** Removes the listener or handler it was returned for. */
export type Unsubscribe = () => void;

/** A connection to a hub, made by {@link connect}. */
export declare class Hub<
  In extends ServerEvents = ServerEvents,
  Out extends ClientEmits = ClientEmits,
  Calls extends ServerCalls = ServerCalls,
> {
  constructor(url: HubUrls, options?: ConnectOptions);
  /** The current state. */
  readonly state: HubState;
  /** The WebSocket URL in use (of the current attempt, or of the next one). */
  readonly url: string;
  /** All the WebSocket URLs, resolved, in the order given. */
  readonly urls: readonly string[];
  /** `{id, info}` from the last `welcome`, or null before it. */
  readonly user: User | null;
  /** The session id from the last `welcome`, or null before it. */
  readonly sessionId: string | null;
  /** The rooms the session is in, with the last position seen (a snapshot). */
  readonly rooms: ReadonlyMap<string, Position>;

  /** Called on every change of state, and for each retry scheduled while reconnecting. */
  onState(listener: (state: HubState, info: StateInfo) => void): Unsubscribe;
  /** Errors no promise reports: hub `error` messages, failed rejoins, a throwing `auth`. */
  onError(listener: (error: HubError) => void): Unsubscribe;
  /** Close for good: state `"disconnected"`; waiting requests reject with `closed`. */
  close(): void;
  /** Drop and reconnect now; after close() or a failure, start again. */
  reconnect(): void;

  /** Listen to `event`s from the hub. */
  on<E extends keyof In & string>(event: E, listener: (data: In[E], meta: EventMeta) => void): Unsubscribe;
  /** Emit and wait for the ack (the handler's return value); rejects with a HubError. */
  emit<E extends keyof Out & string>(event: E, data?: Out[E]["data"], options?: EmitOptions): Promise<Out[E]["ack"]>;
  /** Fire-and-forget; dropped (false) when not connected. */
  send<E extends keyof Out & string>(event: E, data?: Out[E]["data"]): boolean;
  /** Answer the hub's `call`s of `event`; a throw is an error reply. */
  handle<E extends keyof Calls & string>(
    event: E,
    handler: (data: Calls[E]["data"], meta: { event: string }) => Calls[E]["reply"] | Promise<Calls[E]["reply"]>,
  ): Unsubscribe;

  /** Join a room, recovering from the last (or the given) position. */
  join(room: string, options?: { offset?: number; epoch?: string; timeout?: number }): Promise<JoinResult>;
  /** Leave a room (not rejoined after a reconnect). */
  leave(room: string, options?: { timeout?: number }): Promise<unknown>;
  /** Joins and leaves of rooms, whoever asked for them. */
  onRoom(listener: (change: RoomChange) => void): Unsubscribe;

  /** Who is in a room now, by user id (a snapshot). */
  presence(room: string): ReadonlyMap<string, Member>;
  /** Presence changes in a room. */
  onPresence(room: string, listener: (members: ReadonlyMap<string, Member>, diff: PresenceDiff) => void): Unsubscribe;
}

/**
 * Connect to a hub mounted at `url` (a path, or a ws/wss/http/https URL), or at
 * any of several URLs (the hub's nodes): an attempt that fails before the
 * `welcome` moves on to the next one, round robin; the first connection tries each
 * once, at once.
 */
export declare function connect<
  In extends ServerEvents = ServerEvents,
  Out extends ClientEmits = ClientEmits,
  Calls extends ServerCalls = ServerCalls,
>(url: HubUrls, options?: ConnectOptions): Hub<In, Out, Calls>;
