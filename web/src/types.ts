// The shapes of the SIGMAX API's answers (src/sigmax/api/schemas.py). Money, quantities and
// account prices are exact decimal strings; candle prices and scores are numbers.

export interface ErrorBody {
  error: { field: string | null; rule: string; message: string; rules?: string[] };
}

export interface Status {
  mode: "paper" | "live";
  running: boolean;
  paused: boolean;
  pause_reason: string | null;
  feed: "replay" | "live" | null;
  profile: string;
  run_id: string | null;
  run_status: "running" | "stale" | "completed" | "interrupted" | "failed" | null;
  as_of: string | null;
  symbols: string[];
}

export interface Trigger {
  name: string;
  enabled: boolean;
  value: string | number | null;
  threshold: string | number | null;
  fired: boolean;
  detail: string;
}

export interface Safety {
  at: string;
  as_of: string;
  paused: boolean;
  reason: string | null;
  trigger: string | null;
  until: string | null;
  /** The clock `until` counts in: market (candle time), wall (real time: an operator's
   * pause) or mixed (holds in both; each hold has its own). */
  until_clock: "market" | "wall" | "mixed" | null;
  triggers: Trigger[];
  protections: {
    drawdown?: {
      value_pct: string;
      threshold_pct: string;
      fired: boolean;
    };
  };
  engine_running: boolean;
}

export interface Position {
  size: string;
  entry_price: string;
  current_price: string;
  pnl: string;
  pnl_pct: string;
}

export interface Portfolio {
  as_of: string | null;
  total_value_usd: string;
  cash: string;
  daily_pnl: string;
  daily_pnl_day: string | null;
  realized_pnl: string;
  unrealized_pnl: string;
  fees: string;
  positions: Record<string, Position>;
}

export interface Trade {
  decision_id: string | null;
  symbol: string;
  side: "buy" | "sell";
  qty: string;
  price: string;
  fee: string;
  realized_pnl: string;
  timestamp: string;
  order_type: string;
  client_order_id: string;
}

export interface EquityPoint {
  time: string;
  equity: string;
  daily_pnl: string;
}

export interface Candle {
  timestamp_ms: number;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
}

export interface CandlesAnswer {
  symbol: string;
  timeframe: string;
  candles: Candle[];
}

export interface Evidence {
  key: string;
  label: string;
  value: number | null;
}

export interface AgentReport {
  name: string;
  status: string;
  score: number;
  confidence: number;
  argument: string;
  evidence: Evidence[];
  details: Record<string, unknown>;
  latency_ms: number;
}

export interface DebateRound {
  round: number;
  bull: string;
  bear: string;
}

export interface Compliance {
  allowed: boolean;
  reason: string;
  verdict: {
    allowed: boolean;
    evaluator: string;
    violations: { rule: string; message: string }[];
  } | null;
}

/** A decision as the live stream announces it; the full record is fetched when opened. */
export interface DecisionSummary {
  id: string;
  symbol: string;
  timestamp: string;
  decision: "BUY" | "SELL" | "HOLD";
  confidence: number;
  score: number;
  size_usd: number;
  price: number | null;
  latency_ms: number;
}

export interface DecisionRecord extends DecisionSummary {
  data_until: string;
  reasoning: Record<string, string>;
  agents: AgentReport[];
  debate: DebateRound[];
  indicators: Record<string, number | null>;
  compliance: Compliance | null;
}

export interface CommandAnswer {
  command: string;
  status: "pending" | "applied" | "refused";
  message: string;
  applied_by: string | null;
}

/** One message of /api/ws: an event (with ``v``) or a control message. */
export interface StreamEvent {
  v: number;
  id: string;
  type: string;
  at_ms: number;
  payload: Record<string, unknown>;
}
