// /api/ws: the engine's events, live. The token goes in the first message (a browser cannot
// set headers on a WebSocket, and a token in the URL would be logged). The stream reconnects by
// itself with a growing delay, except when retrying cannot help (a refused token, a process
// without an event stream); after a reconnect the page reloads its state, since events sent
// while it was away are gone.
import type { StreamEvent } from "./types";

export type LinkState =
  | { kind: "connecting"; attempt: number }
  | { kind: "live" }
  | { kind: "retrying"; inSeconds: number; reason: string }
  | { kind: "refused"; reason: string }
  | { kind: "unavailable"; reason: string }
  | { kind: "stopped" };

export interface LiveHandlers {
  onEvent(event: StreamEvent): void;
  /** The stream is live again (first time or after a gap): reload what may have been missed. */
  onLive(): void;
  /** Events were dropped because the page fell behind: reload. */
  onDropped(count: number): void;
  onState(state: LinkState): void;
}

const CLOSE_POLICY_VIOLATION = 1008;
const CLOSE_NO_EVENT_STREAM = 4404;
const MIN_DELAY_MS = 500;
const MAX_DELAY_MS = 10_000;

export class LiveStream {
  private socket: WebSocket | null = null;
  private timer: number | undefined;
  private attempt = 0;
  private stopped = false;

  constructor(
    private readonly token: string,
    private readonly handlers: LiveHandlers,
  ) {}

  start(): void {
    this.stopped = false;
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    window.clearTimeout(this.timer);
    this.socket?.close(1000, "page closed the stream");
    this.socket = null;
    this.handlers.onState({ kind: "stopped" });
  }

  private connect(): void {
    this.attempt += 1;
    this.handlers.onState({ kind: "connecting", attempt: this.attempt });
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(`${scheme}//${location.host}/api/ws`);
    this.socket = socket;
    socket.onopen = () => socket.send(JSON.stringify({ token: this.token }));
    socket.onmessage = (message: MessageEvent<string>) => this.receive(message.data);
    socket.onclose = (close: CloseEvent) => {
      if (this.socket !== socket || this.stopped) return;
      this.socket = null;
      this.closed(close);
    };
  }

  private receive(text: string): void {
    let message: { type?: string; v?: number; count?: number };
    try {
      message = JSON.parse(text) as typeof message;
    } catch {
      return; // not JSON: nothing this page understands
    }
    if (message.v !== undefined) {
      this.handlers.onEvent(message as StreamEvent);
    } else if (message.type === "subscribed") {
      this.attempt = 0;
      this.handlers.onState({ kind: "live" });
      this.handlers.onLive();
    } else if (message.type === "dropped") {
      this.handlers.onDropped(message.count ?? 0);
    }
  }

  private closed(close: CloseEvent): void {
    const reason = close.reason || `connection closed (code ${close.code})`;
    if (close.code === CLOSE_POLICY_VIOLATION) {
      this.handlers.onState({ kind: "refused", reason });
      return;
    }
    if (close.code === CLOSE_NO_EVENT_STREAM) {
      this.handlers.onState({ kind: "unavailable", reason });
      return;
    }
    const delay = Math.min(MAX_DELAY_MS, MIN_DELAY_MS * 2 ** Math.min(this.attempt, 5));
    this.handlers.onState({ kind: "retrying", inSeconds: Math.ceil(delay / 1000), reason });
    this.timer = window.setTimeout(() => this.connect(), delay);
  }
}
