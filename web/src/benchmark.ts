// Buy-and-hold against the bot: the run's starting equity put into one symbol at the first
// equity point, valued at each later point's last closed candle. No fees, never rebalanced.
import type { Candle } from "./types";

export interface Point {
  timeMs: number;
  value: number;
}

/**
 * The buy-and-hold curve over ``equity``'s times. ``candles`` are oldest first, ``frameMs`` is
 * their length: a point at time t is valued at the close of the last candle closed by t.
 * Points before the first candle close get no value (the curve starts where data does).
 */
export function buyAndHold(equity: Point[], candles: Candle[], frameMs: number): Point[] {
  if (equity.length === 0 || candles.length === 0) return [];
  const curve: Point[] = [];
  let index = -1;
  let entryClose: number | null = null;
  let startEquity = 0;
  for (const point of equity) {
    while (index + 1 < candles.length && candles[index + 1].timestamp_ms + frameMs <= point.timeMs) {
      index += 1;
    }
    if (index < 0) continue;
    const close = candles[index].close;
    if (entryClose === null) {
      entryClose = close;
      startEquity = point.value;
    }
    curve.push({ timeMs: point.timeMs, value: (startEquity * close) / entryClose });
  }
  return curve;
}

/** "1h" -> 3,600,000 ms; the API's timeframes are a count and one of m, h, d. */
export function frameMs(timeframe: string): number {
  const match = /^(\d+)([mhd])$/.exec(timeframe);
  if (!match) throw new Error(`unknown timeframe ${timeframe}`);
  const unit = { m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] as "m" | "h" | "d"];
  return Number(match[1]) * unit;
}

/** The open time of the candle holding ``timeMs``: where a fill is marked on the chart. */
export function candleOpen(timeMs: number, frame: number): number {
  return Math.floor(timeMs / frame) * frame;
}
