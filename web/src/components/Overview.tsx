// What SIGMAX is doing now: mode and feed, running or paused (why, until when), the safety
// triggers against their thresholds, equity, the day's PnL and the open positions.
import { label, num, pauseUntil, pct, sign, signedUsd, usd, utc } from "../format";
import type { Portfolio, Safety, Status, Trigger } from "../types";

function tone(value: string | number | null | undefined): string {
  const s = sign(value);
  return s > 0 ? "up" : s < 0 ? "down" : "";
}

export function RunState({ status, safety }: { status: Status | null; safety: Safety | null }) {
  if (status === null) return <p class="muted">Loading…</p>;
  const paused = safety?.paused ?? status.paused;
  const reason = safety?.reason ?? status.pause_reason;
  const running = status.running;
  return (
    <div class="run-state" data-testid="run-state">
      <span class={`badge ${status.mode === "live" ? "danger" : "neutral"}`} data-testid="mode">
        {status.mode === "live" ? "LIVE MONEY" : "Paper"}
      </span>
      <span
        class={`badge ${status.feed === "live" ? "warn" : "neutral"}`}
        data-testid="feed"
        title={status.feed === "replay" ? "Stored candles replayed" : "Candles as they close"}
      >
        {status.feed === "replay" ? "Replay feed" : status.feed === "live" ? "Live feed" : "No run yet"}
      </span>
      <span class="badge neutral">Profile {status.profile}</span>
      {status.run_status === "stale" ? (
        <span
          class="badge danger"
          data-testid="engine-state"
          title="The run's engine stopped without ending its run: its heartbeat is gone. Pause, resume and panic act on the stored account at once."
        >
          Engine died (run stale)
        </span>
      ) : !running ? (
        <span class="badge warn" data-testid="engine-state">
          Engine not running{status.run_status ? ` (run ${status.run_status})` : ""}
        </span>
      ) : paused ? (
        <span class="badge danger" data-testid="engine-state">
          Paused
        </span>
      ) : (
        <span class="badge ok" data-testid="engine-state">
          Trading
        </span>
      )}
      {paused && (
        <p class="pause-reason" data-testid="pause-reason" role="status">
          Paused: {reason ?? "no reason recorded"}
          {pauseUntil(safety?.until, safety?.until_clock)}
        </p>
      )}
      <p class="muted small">Market time {utc(status.as_of)}</p>
    </div>
  );
}

export function Figures({ portfolio }: { portfolio: Portfolio | null }) {
  return (
    <dl class="figures">
      <div>
        <dt>Equity</dt>
        <dd data-testid="equity">{portfolio ? usd(portfolio.total_value_usd) : "—"}</dd>
      </div>
      <div>
        <dt>Daily PnL{portfolio?.daily_pnl_day ? ` (${portfolio.daily_pnl_day})` : ""}</dt>
        <dd class={tone(portfolio?.daily_pnl)} data-testid="daily-pnl">
          {portfolio ? signedUsd(portfolio.daily_pnl) : "—"}
        </dd>
      </div>
      <div>
        <dt>Unrealised</dt>
        <dd class={tone(portfolio?.unrealized_pnl)}>
          {portfolio ? signedUsd(portfolio.unrealized_pnl) : "—"}
        </dd>
      </div>
      <div>
        <dt>Realised</dt>
        <dd class={tone(portfolio?.realized_pnl)}>
          {portfolio ? signedUsd(portfolio.realized_pnl) : "—"}
        </dd>
      </div>
      <div>
        <dt>Cash</dt>
        <dd>{portfolio ? usd(portfolio.cash) : "—"}</dd>
      </div>
      <div>
        <dt>Fees</dt>
        <dd>{portfolio ? usd(portfolio.fees) : "—"}</dd>
      </div>
    </dl>
  );
}

/** How far a trigger's value has gone towards its threshold, when both are numbers on the same
 * side of zero (a count against a limit, a loss against a floor); null otherwise. */
function progress(trigger: Trigger): number | null {
  const value = Number(trigger.value);
  const threshold = Number(trigger.threshold);
  if (trigger.value === null || !Number.isFinite(value) || !Number.isFinite(threshold)) return null;
  if (threshold === 0 || value * threshold < 0) return value * threshold < 0 ? 0 : null;
  return Math.min(1, value / threshold);
}

export function Triggers({ safety }: { safety: Safety | null }) {
  if (safety === null) return <p class="muted">Loading…</p>;
  const drawdown = safety.protections.drawdown;
  return (
    <div class="table-wrap">
      <table class="triggers" data-testid="triggers">
        <caption class="sr-only">Safety triggers against their thresholds</caption>
        <thead>
          <tr>
            <th scope="col">Trigger</th>
            <th scope="col">Value</th>
            <th scope="col">Threshold</th>
            <th scope="col">State</th>
          </tr>
        </thead>
        <tbody>
          {safety.triggers.map((trigger) => {
            const share = progress(trigger);
            return (
              <tr key={trigger.name} class={trigger.fired ? "fired" : ""} title={trigger.detail}>
                <th scope="row">{label(trigger.name)}</th>
                <td>
                  {trigger.value === null ? "—" : num(trigger.value)}
                  {share !== null && (
                    <meter min={0} max={1} low={0.5} high={0.8} optimum={0} value={share}>
                      {pct(share * 100, 0)}
                    </meter>
                  )}
                </td>
                <td>{trigger.threshold === null ? "—" : String(trigger.threshold)}</td>
                <td>{!trigger.enabled ? "off" : trigger.fired ? "FIRED" : "ok"}</td>
              </tr>
            );
          })}
          {drawdown && (
            <tr class={drawdown.fired ? "fired" : ""}>
              <th scope="row">Drawdown</th>
              <td>{pct(drawdown.value_pct)}</td>
              <td>{pct(drawdown.threshold_pct)}</td>
              <td>{drawdown.fired ? "FIRED" : "ok"}</td>
            </tr>
          )}
        </tbody>
      </table>
    </div>
  );
}

export function Positions({ portfolio }: { portfolio: Portfolio | null }) {
  const rows = portfolio ? Object.entries(portfolio.positions) : [];
  if (rows.length === 0) return <p class="muted" data-testid="positions">No open position.</p>;
  return (
    <div class="table-wrap">
      <table data-testid="positions">
        <caption class="sr-only">Open positions</caption>
        <thead>
          <tr>
            <th scope="col">Symbol</th>
            <th scope="col">Size</th>
            <th scope="col">Entry</th>
            <th scope="col">Mark</th>
            <th scope="col">Unrealised PnL</th>
          </tr>
        </thead>
        <tbody>
          {rows.map(([symbol, p]) => (
            <tr key={symbol}>
              <th scope="row">{symbol}</th>
              <td>{p.size}</td>
              <td>{num(p.entry_price)}</td>
              <td>{num(p.current_price)}</td>
              <td class={tone(p.pnl)}>
                {signedUsd(p.pnl)} ({pct(p.pnl_pct)})
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
