// Display formats. Exact decimal strings from the API are rounded only for display.

const usdFormat = new Intl.NumberFormat("en-US", {
  style: "currency",
  currency: "USD",
  minimumFractionDigits: 2,
  maximumFractionDigits: 2,
});

/** "1,234.57 USD"-style money from an exact decimal string or a number; "—" when unknown. */
export function usd(value: string | number | null | undefined): string {
  if (value === null || value === undefined || value === "") return "—";
  const number = typeof value === "number" ? value : Number(value);
  return Number.isFinite(number) ? usdFormat.format(number) : String(value);
}

/** Money with an explicit sign, for profits and losses. */
export function signedUsd(value: string | number | null | undefined): string {
  const text = usd(value);
  const number = Number(value);
  return number > 0 ? `+${text}` : text;
}

/** The sign of a decimal string, for colouring: 1, 0 or -1. */
export function sign(value: string | number | null | undefined): number {
  const number = Number(value);
  return Number.isFinite(number) ? Math.sign(number) : 0;
}

/** A number with at most ``digits`` significant decimals, grouped. */
export function num(value: number | string | null | undefined, digits = 4): string {
  if (value === null || value === undefined || value === "") return "—";
  const number = typeof value === "number" ? value : Number(value);
  if (!Number.isFinite(number)) return String(value);
  const abs = Math.abs(number);
  const decimals = abs >= 1000 ? 2 : abs >= 1 ? Math.min(digits, 4) : digits + 2;
  return number.toLocaleString("en-US", { maximumFractionDigits: decimals });
}

export function pct(value: number | string, digits = 2): string {
  return `${Number(value).toFixed(digits)}%`;
}

/** "2021-04-06 19:00 UTC": replay times are market times, shown in UTC as the API gives them. */
export function utc(iso: string | null | undefined): string {
  if (!iso) return "—";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return `${date.toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

/** When a pause lifts by itself, saying which clock that counts in: an operator's pause counts
 * in wall time (to the second), the triggers' holds in the replay's market time. */
export function pauseUntil(
  until: string | null | undefined,
  clock: "market" | "wall" | "mixed" | null | undefined,
): string {
  if (clock === "mixed") return ", until each hold has lifted (market time and wall clock)";
  if (!until || !clock) return ", until resumed";
  if (clock === "wall") {
    const date = new Date(until);
    const shown = Number.isNaN(date.getTime())
      ? until
      : `${date.toISOString().slice(0, 19).replace("T", " ")} UTC`;
    return `, until ${shown} (wall clock)`;
  }
  return `, until ${utc(until)} (market time)`;
}

/** Trigger names as people say them: "consecutive_losses" -> "Consecutive losses". */
export function label(name: string): string {
  const text = name.replace(/_/g, " ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}
