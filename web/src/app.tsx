// The dashboard: what SIGMAX is doing and why, live.
import { useEffect, useState } from "preact/hooks";

import { Controls } from "./components/Controls";
import { Decisions } from "./components/Decisions";
import { MarketView } from "./components/MarketView";
import { Figures, Positions, RunState, Triggers } from "./components/Overview";
import { TokenDialog } from "./components/TokenDialog";
import { Trades } from "./components/Trades";
import type { LinkState } from "./live";
import { SNAPSHOT_EVERY_S, useDashboard } from "./state";

function linkText(link: LinkState, hasToken: boolean): string {
  switch (link.kind) {
    case "live":
      return "Live";
    case "connecting":
      return link.attempt > 1 ? `Reconnecting (attempt ${link.attempt})…` : "Connecting…";
    case "retrying":
      return `Stream lost (${link.reason}); retrying in ${link.inSeconds} s`;
    case "refused":
      return `Stream refused: ${link.reason}`;
    case "unavailable":
      return `No live stream here: ${link.reason}; snapshot every ${SNAPSHOT_EVERY_S} s`;
    case "stopped":
      return hasToken ? "Stream stopped" : `Snapshot every ${SNAPSHOT_EVERY_S} s (no token yet)`;
  }
}

export function App() {
  const board = useDashboard();
  const [askToken, setAskToken] = useState(false);
  const firstRender = board.portfolio !== null;
  useEffect(() => {
    // For the dashboard benchmark: when the equity figure is first on screen.
    if (firstRender) performance.mark("sigmax:first-render");
  }, [firstRender]);
  const live = board.link.kind === "live";
  return (
    <>
      <header class="top">
        <h1>SIGMAX</h1>
        <RunState status={board.status} safety={board.safety} />
        <div class="link" data-testid="link-state" data-state={board.link.kind}>
          <span class={`dot ${live ? "ok" : "warn"}`} aria-hidden="true" />
          <span role="status">{linkText(board.link, board.hasToken)}</span>
          {!live && board.link.kind !== "connecting" && board.link.kind !== "retrying" && (
            <button type="button" onClick={() => setAskToken(true)}>
              Connect live stream
            </button>
          )}
        </div>
      </header>
      {board.loadError && (
        <p class="error banner" role="alert" data-testid="load-error">
          {board.loadError}
        </p>
      )}
      <main class="grid">
        <section aria-labelledby="overview-title" class="panel overview">
          <h2 id="overview-title">Overview</h2>
          <Figures portfolio={board.portfolio} />
          <h3>Positions</h3>
          <Positions portfolio={board.portfolio} />
        </section>
        <section aria-labelledby="safety-title" class="panel safety">
          <h2 id="safety-title">Safety triggers</h2>
          <Triggers safety={board.safety} />
        </section>
        <Controls
          paused={board.safety?.paused ?? board.status?.paused ?? false}
          onChanged={board.reloadControls}
          onToken={board.connect}
        />
        <MarketView
          symbols={board.status?.symbols ?? []}
          asOfMs={board.asOfMs}
          equity={board.equity}
          trades={board.trades}
        />
        <Decisions decisions={board.decisions} records={board.records} remember={board.remember} />
        <Trades trades={board.trades} />
      </main>
      {askToken && (
        <TokenDialog
          purpose="The live stream"
          onCancel={() => setAskToken(false)}
          onSaved={() => {
            setAskToken(false);
            board.connect();
          }}
        />
      )}
    </>
  );
}
