// The page's state: loaded over REST, then kept current by the live stream. Without a token
// there is no stream (it always needs one), so the page reloads its snapshot on a timer and
// says so.
import { useCallback, useEffect, useRef, useState } from "preact/hooks";

import { describe, forgetToken, get, readToken } from "./api";
import { LiveStream, type LinkState } from "./live";
import type {
  DecisionRecord,
  DecisionSummary,
  EquityPoint,
  Portfolio,
  Safety,
  Status,
  StreamEvent,
  Trade,
} from "./types";

/** Decisions kept in the feed; older ones are still in /api/history. */
export const FEED_SIZE = 200;
/** Whole decision records read on load (each is a few kB); later ones come from the stream. */
const HISTORY_ON_LOAD = 40;
/** Seconds between snapshots while there is no live stream. */
export const SNAPSHOT_EVERY_S = 5;
/** Least milliseconds between two reloads of the same thing prompted by events. */
const COALESCE_MS = 750;

export interface Dashboard {
  status: Status | null;
  safety: Safety | null;
  portfolio: Portfolio | null;
  equity: EquityPoint[];
  trades: Trade[];
  decisions: DecisionSummary[];
  records: Map<string, DecisionRecord>;
  /** Close of the newest candle the engine processed (ms), moved on by the stream. */
  asOfMs: number | null;
  link: LinkState;
  loadError: string | null;
  hasToken: boolean;
}

function summary(record: DecisionRecord | DecisionSummary): DecisionSummary {
  const { id, symbol, timestamp, decision, confidence, score, size_usd, price, latency_ms } =
    record;
  return { id, symbol, timestamp, decision, confidence, score, size_usd, price, latency_ms };
}

function eventDecision(event: StreamEvent): DecisionSummary {
  const p = event.payload;
  return {
    id: String(p.id),
    symbol: String(p.symbol),
    timestamp: new Date(event.at_ms).toISOString().replace(".000Z", "Z"),
    decision: p.decision as DecisionSummary["decision"],
    confidence: Number(p.confidence),
    score: Number(p.score),
    size_usd: Number(p.size_usd),
    price: p.price === null ? null : Number(p.price),
    latency_ms: Number(p.latency_ms),
  };
}

function isoMs(iso: string | null | undefined): number | null {
  if (!iso) return null;
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? null : ms;
}

/** Calls ``run`` at most once per COALESCE_MS however often it is asked for. */
function coalesced(run: () => Promise<void>): () => void {
  let due: number | undefined;
  let last = 0;
  return () => {
    if (due !== undefined) return;
    const wait = Math.max(0, last + COALESCE_MS - Date.now());
    due = window.setTimeout(() => {
      due = undefined;
      last = Date.now();
      void run();
    }, wait);
  };
}

export function useDashboard(): Dashboard & {
  reload: () => Promise<void>;
  reloadControls: () => Promise<void>;
  connect: () => void;
  remember: (record: DecisionRecord) => void;
} {
  const [status, setStatus] = useState<Status | null>(null);
  const [safety, setSafety] = useState<Safety | null>(null);
  const [portfolio, setPortfolio] = useState<Portfolio | null>(null);
  const [equity, setEquity] = useState<EquityPoint[]>([]);
  const [trades, setTrades] = useState<Trade[]>([]);
  const [decisions, setDecisions] = useState<DecisionSummary[]>([]);
  const [records, setRecords] = useState<Map<string, DecisionRecord>>(new Map());
  const [asOfMs, setAsOfMs] = useState<number | null>(null);
  const [link, setLink] = useState<LinkState>({ kind: "stopped" });
  const [loadError, setLoadError] = useState<string | null>(null);
  const [hasToken, setHasToken] = useState<boolean>(readToken() !== null);
  const stream = useRef<LiveStream | null>(null);

  const guard = useCallback(async (work: () => Promise<void>) => {
    try {
      await work();
      setLoadError(null);
    } catch (error) {
      setLoadError(describe(error));
    }
  }, []);

  const reloadControls = useCallback(
    () =>
      guard(async () => {
        const [s, f] = await Promise.all([get<Status>("/api/status"), get<Safety>("/api/safety")]);
        setStatus(s);
        setSafety(f);
        setAsOfMs((old) => Math.max(old ?? 0, isoMs(s.as_of) ?? 0) || null);
      }),
    [guard],
  );

  const reload = useCallback(
    () =>
      guard(async () => {
        // Each part is shown as soon as it arrives: the figures do not wait for the history.
        await Promise.all([
          get<Portfolio>("/api/portfolio").then(setPortfolio),
          get<Status>("/api/status").then((s) => {
            setStatus(s);
            setAsOfMs((old) => Math.max(old ?? 0, isoMs(s.as_of) ?? 0) || null);
          }),
          get<Safety>("/api/safety").then(setSafety),
          get<{ points: EquityPoint[] }>("/api/equity").then((e) => setEquity(e.points)),
          get<{ trades: Trade[] }>("/api/trades").then((t) => setTrades(t.trades)),
          get<{ decisions: DecisionRecord[] }>("/api/history", { limit: HISTORY_ON_LOAD }).then(
            (h) => {
              setRecords((old) => {
                const next = new Map(old);
                for (const record of h.decisions) next.set(record.id, record);
                return next;
              });
              setDecisions((old) => {
                const known = new Set(h.decisions.map((d) => d.id));
                const merged = [
                  ...h.decisions.map(summary),
                  ...old.filter((d) => !known.has(d.id)),
                ];
                merged.sort((a, b) => b.timestamp.localeCompare(a.timestamp));
                return merged.slice(0, FEED_SIZE);
              });
            },
          ),
        ]);
      }),
    [guard],
  );

  const refreshAccount = useRef(
    coalesced(async () => {
      await guard(async () => {
        const [p, f] = await Promise.all([
          get<Portfolio>("/api/portfolio"),
          get<Safety>("/api/safety"),
        ]);
        setPortfolio(p);
        setSafety(f);
      });
    }),
  );
  const refreshTrades = useRef(
    coalesced(async () => {
      await guard(async () => setTrades((await get<{ trades: Trade[] }>("/api/trades")).trades));
    }),
  );

  const onEvent = useCallback(
    (event: StreamEvent) => {
      switch (event.type) {
        case "decision": {
          const decision = eventDecision(event);
          setDecisions((old) =>
            old.some((d) => d.id === decision.id) ? old : [decision, ...old].slice(0, FEED_SIZE),
          );
          setAsOfMs((old) => Math.max(old ?? 0, event.at_ms));
          break;
        }
        case "equity": {
          const p = event.payload as Record<string, string>;
          const time = new Date(event.at_ms).toISOString().replace(".000Z", "Z");
          setEquity((old) =>
            old.length > 0 && old[old.length - 1].time >= time
              ? old
              : [...old, { time, equity: p.equity, daily_pnl: p.daily_pnl }],
          );
          setPortfolio((old) =>
            old === null
              ? old
              : {
                  ...old,
                  total_value_usd: p.equity,
                  cash: p.cash,
                  daily_pnl: p.daily_pnl,
                  realized_pnl: p.realized_pnl,
                  unrealized_pnl: p.unrealized_pnl,
                  fees: p.fees,
                  as_of: time,
                },
          );
          setAsOfMs((old) => Math.max(old ?? 0, event.at_ms));
          refreshAccount.current();
          break;
        }
        case "fill":
          refreshTrades.current();
          refreshAccount.current();
          break;
        case "pause":
        case "resume":
        case "panic":
        case "safety":
        case "alert":
        case "run":
          void reloadControls();
          refreshAccount.current();
          break;
        default:
          break;
      }
    },
    [reloadControls],
  );

  const connect = useCallback(() => {
    stream.current?.stop();
    stream.current = null;
    const token = readToken();
    setHasToken(token !== null);
    if (token === null) return;
    const live = new LiveStream(token, {
      onEvent,
      onLive: () => void reload(),
      onDropped: () => void reload(),
      onState: (state) => {
        setLink(state);
        // A refused token is useless for the actions too: ask for it again (unless another
        // one was given meanwhile).
        if (state.kind === "refused" && readToken() === token) {
          forgetToken();
          setHasToken(false);
        }
      },
    });
    stream.current = live;
    live.start();
  }, [onEvent, reload]);

  useEffect(() => {
    void reload();
    connect();
    return () => stream.current?.stop();
  }, []); // once, on mount: later loads come from the stream or the timer

  // No stream, no events: a snapshot on a timer instead, and the page says which it shows.
  const streaming = link.kind === "live" || link.kind === "connecting" || link.kind === "retrying";
  useEffect(() => {
    if (streaming) return undefined;
    const timer = window.setInterval(() => void reload(), SNAPSHOT_EVERY_S * 1000);
    return () => window.clearInterval(timer);
  }, [streaming, reload]);

  const remember = useCallback((record: DecisionRecord) => {
    setRecords((old) => new Map(old).set(record.id, record));
  }, []);

  return {
    status,
    safety,
    portfolio,
    equity,
    trades,
    decisions,
    records,
    asOfMs,
    link,
    loadError,
    hasToken,
    reload,
    reloadControls,
    connect,
    remember,
  };
}
