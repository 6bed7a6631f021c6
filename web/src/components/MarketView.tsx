// One symbol's market: candles with volume and the bot's entries and exits, then the equity
// curve against buying and holding that symbol. Candles are read up to the engine's market time
// (a replay's stored data runs ahead of it) and topped up as the stream moves that time on.
import {
  CandlestickSeries,
  ColorType,
  HistogramSeries,
  LineSeries,
  createChart,
  createSeriesMarkers,
  type IChartApi,
  type ISeriesApi,
  type ISeriesMarkersPluginApi,
  type SeriesMarker,
  type Time,
  type UTCTimestamp,
} from "lightweight-charts";
import { useEffect, useMemo, useRef, useState } from "preact/hooks";

import { describe, get } from "../api";
import { buyAndHold, candleOpen, frameMs } from "../benchmark";
import type { Candle, CandlesAnswer, EquityPoint, Trade } from "../types";

/** Candles drawn; enough to also value buy-and-hold over a long run's equity curve. */
const MIN_CANDLES = 500;
const MAX_CANDLES = 10_000;

const seconds = (ms: number) => (ms / 1000) as UTCTimestamp;

function palette() {
  const dark = window.matchMedia?.("(prefers-color-scheme: dark)").matches ?? true;
  return {
    text: dark ? "#c9d1d9" : "#24292f",
    grid: dark ? "#21262d" : "#eaeef2",
    up: "#2da44e",
    down: "#cf222e",
    line: dark ? "#58a6ff" : "#0969da",
    hold: dark ? "#d29922" : "#9a6700",
  };
}

function newChart(element: HTMLElement, height: number): IChartApi {
  const colours = palette();
  return createChart(element, {
    autoSize: true,
    height,
    layout: {
      background: { type: ColorType.Solid, color: "transparent" },
      textColor: colours.text,
      attributionLogo: false,
    },
    grid: { vertLines: { color: colours.grid }, horzLines: { color: colours.grid } },
    timeScale: { timeVisible: true, secondsVisible: false },
    rightPriceScale: { borderVisible: false },
  });
}

function markersFor(trades: Trade[], symbol: string, frame: number): SeriesMarker<Time>[] {
  const colours = palette();
  return trades
    .filter((t) => t.symbol === symbol)
    .map((t): SeriesMarker<Time> => {
      const buy = t.side === "buy";
      return {
        time: seconds(candleOpen(Date.parse(t.timestamp), frame)),
        position: buy ? "belowBar" : "aboveBar",
        color: buy ? colours.up : colours.down,
        shape: buy ? "arrowUp" : "arrowDown",
        text: buy ? "entry" : "exit",
      };
    })
    .sort((a, b) => Number(a.time) - Number(b.time));
}

interface Props {
  symbols: string[];
  asOfMs: number | null;
  equity: EquityPoint[];
  trades: Trade[];
}

export function MarketView({ symbols, asOfMs, equity, trades }: Props) {
  const [symbol, setSymbol] = useState<string | null>(null);
  const [candles, setCandles] = useState<Candle[]>([]);
  const [timeframe, setTimeframe] = useState<string>("1h");
  const [error, setError] = useState<string | null>(null);
  const chosen = symbol ?? symbols[0] ?? null;
  const frame = frameMs(timeframe);

  // A full load when the symbol changes (or once the market time is known)...
  const loadedFor = useRef<string | null>(null);
  useEffect(() => {
    if (chosen === null || asOfMs === null || loadedFor.current === chosen) return;
    loadedFor.current = chosen;
    const limit = Math.min(MAX_CANDLES, Math.max(MIN_CANDLES, equity.length + 2));
    get<CandlesAnswer>("/api/candles", { symbol: chosen, limit, until_ms: asOfMs })
      .then((answer) => {
        setTimeframe(answer.timeframe);
        setCandles(answer.candles);
        setError(null);
      })
      .catch((e: unknown) => {
        loadedFor.current = null;
        setError(describe(e));
      });
  }, [chosen, asOfMs, equity.length]);

  // ...then the newest few as the market time moves on.
  useEffect(() => {
    if (chosen === null || asOfMs === null || loadedFor.current !== chosen) return;
    const last = candles[candles.length - 1];
    if (last !== undefined && last.timestamp_ms + frame >= asOfMs) return;
    get<CandlesAnswer>("/api/candles", { symbol: chosen, limit: 3, until_ms: asOfMs })
      .then((answer) => {
        if (answer.symbol !== chosen) return;
        setCandles((old) => {
          const newest = old.length ? old[old.length - 1].timestamp_ms : -1;
          const fresh = answer.candles.filter((c) => c.timestamp_ms > newest);
          return fresh.length ? [...old, ...fresh].slice(-MAX_CANDLES) : old;
        });
      })
      .catch((e: unknown) => setError(describe(e)));
  }, [asOfMs, chosen]); // not on every candle change: only a new market time asks for more

  const candleBox = useRef<HTMLDivElement>(null);
  const equityBox = useRef<HTMLDivElement>(null);
  const charts = useRef<{
    price: IChartApi;
    candles: ISeriesApi<"Candlestick">;
    volume: ISeriesApi<"Histogram">;
    markers: ISeriesMarkersPluginApi<Time>;
    equity: IChartApi;
    bot: ISeriesApi<"Line">;
    hold: ISeriesApi<"Line">;
  } | null>(null);

  useEffect(() => {
    if (!candleBox.current || !equityBox.current) return undefined;
    const colours = palette();
    const price = newChart(candleBox.current, 320);
    const candleSeries = price.addSeries(CandlestickSeries, {
      upColor: colours.up,
      downColor: colours.down,
      borderVisible: false,
      wickUpColor: colours.up,
      wickDownColor: colours.down,
    });
    const volume = price.addSeries(HistogramSeries, {
      priceFormat: { type: "volume" },
      priceScaleId: "volume",
      color: "rgba(110, 118, 129, 0.45)",
    });
    volume.priceScale().applyOptions({ scaleMargins: { top: 0.8, bottom: 0 } });
    const equityChart = newChart(equityBox.current, 200);
    const bot = equityChart.addSeries(LineSeries, { color: colours.line, lineWidth: 2, title: "SIGMAX" });
    const hold = equityChart.addSeries(LineSeries, {
      color: colours.hold,
      lineWidth: 1,
      lineStyle: 2,
      title: "buy & hold",
    });
    charts.current = {
      price,
      candles: candleSeries,
      volume,
      markers: createSeriesMarkers(candleSeries, []),
      equity: equityChart,
      bot,
      hold,
    };
    return () => {
      price.remove();
      equityChart.remove();
      charts.current = null;
    };
  }, []);

  useEffect(() => {
    const c = charts.current;
    if (!c) return;
    c.candles.setData(
      candles.map((k) => ({
        time: seconds(k.timestamp_ms),
        open: k.open,
        high: k.high,
        low: k.low,
        close: k.close,
      })),
    );
    c.volume.setData(
      candles.map((k) => ({
        time: seconds(k.timestamp_ms),
        value: k.volume,
        color: k.close >= k.open ? "rgba(45, 164, 78, 0.35)" : "rgba(207, 34, 46, 0.35)",
      })),
    );
  }, [candles]);

  useEffect(() => {
    if (chosen !== null) charts.current?.markers.setMarkers(markersFor(trades, chosen, frame));
  }, [trades, chosen, frame, candles.length]);

  const equityPoints = useMemo(
    () => equity.map((p) => ({ timeMs: Date.parse(p.time), value: Number(p.equity) })),
    [equity],
  );
  const hold = useMemo(() => buyAndHold(equityPoints, candles, frame), [equityPoints, candles, frame]);
  useEffect(() => {
    const c = charts.current;
    if (!c) return;
    c.bot.setData(equityPoints.map((p) => ({ time: seconds(p.timeMs), value: p.value })));
    c.hold.setData(hold.map((p) => ({ time: seconds(p.timeMs), value: p.value })));
  }, [equityPoints, hold]);

  const last = hold[hold.length - 1];
  const botLast = equityPoints[equityPoints.length - 1];
  return (
    <section aria-labelledby="market-title" class="panel market">
      <header class="panel-head">
        <h2 id="market-title">Market</h2>
        <div role="tablist" aria-label="Symbol" class="tabs">
          {symbols.map((s) => (
            <button
              type="button"
              role="tab"
              key={s}
              aria-selected={s === chosen}
              onClick={() => {
                if (s === chosen) return;
                setCandles([]);
                setSymbol(s);
              }}
            >
              {s}
            </button>
          ))}
        </div>
      </header>
      {error && <p class="error" role="alert">Candles: {error}</p>}
      <div
        ref={candleBox}
        class="chart"
        data-testid="candle-chart"
        data-candles={candles.length}
        role="img"
        aria-label={`${chosen ?? ""} ${timeframe} candles with volume; arrows mark entries and exits`}
      />
      <h3 class="chart-title">
        Equity against buy-and-hold {chosen ?? ""}
        {last && botLast && (
          <span class="muted small">
            {" "}
            — SIGMAX {botLast.value.toFixed(2)} vs hold {last.value.toFixed(2)} USD
          </span>
        )}
      </h3>
      <div
        ref={equityBox}
        class="chart small-chart"
        data-testid="equity-chart"
        data-points={equityPoints.length}
        role="img"
        aria-label="Equity curve of the run against buying and holding the symbol"
      />
    </section>
  );
}
