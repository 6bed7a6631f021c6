// Every fill of the run, sortable by any column; figures are the API's exact decimals.
import { useMemo, useState } from "preact/hooks";

import { sign, utc } from "../format";
import type { Trade } from "../types";

type Column = "timestamp" | "symbol" | "side" | "qty" | "price" | "fee" | "realized_pnl";

const COLUMNS: { key: Column; title: string; numeric: boolean }[] = [
  { key: "timestamp", title: "Time", numeric: false },
  { key: "symbol", title: "Symbol", numeric: false },
  { key: "side", title: "Side", numeric: false },
  { key: "qty", title: "Quantity", numeric: true },
  { key: "price", title: "Price", numeric: true },
  { key: "fee", title: "Fee", numeric: true },
  { key: "realized_pnl", title: "Realised PnL", numeric: true },
];

export function sortTrades(trades: Trade[], column: Column, ascending: boolean): Trade[] {
  const numeric = COLUMNS.find((c) => c.key === column)?.numeric ?? false;
  const sorted = [...trades].sort((a, b) =>
    numeric
      ? Number(a[column]) - Number(b[column])
      : String(a[column]).localeCompare(String(b[column])),
  );
  return ascending ? sorted : sorted.reverse();
}

export function Trades({ trades }: { trades: Trade[] }) {
  const [column, setColumn] = useState<Column>("timestamp");
  const [ascending, setAscending] = useState(false);
  const rows = useMemo(() => sortTrades(trades, column, ascending), [trades, column, ascending]);
  const sortBy = (key: Column) => {
    if (key === column) setAscending(!ascending);
    else {
      setColumn(key);
      setAscending(key !== "timestamp");
    }
  };
  return (
    <section aria-labelledby="trades-title" class="panel trades">
      <header class="panel-head">
        <h2 id="trades-title">Trades</h2>
        <span class="muted small">{trades.length} fills</span>
      </header>
      {trades.length === 0 ? (
        <p class="muted">No trade yet.</p>
      ) : (
        <div class="table-wrap">
          <table data-testid="trades">
            <caption class="sr-only">Fills; the column headers sort the table</caption>
            <thead>
              <tr>
                {COLUMNS.map((c) => (
                  <th
                    scope="col"
                    key={c.key}
                    aria-sort={c.key === column ? (ascending ? "ascending" : "descending") : "none"}
                  >
                    <button type="button" class="sort" onClick={() => sortBy(c.key)}>
                      {c.title}
                      <span aria-hidden="true">
                        {c.key === column ? (ascending ? " ▲" : " ▼") : ""}
                      </span>
                    </button>
                  </th>
                ))}
                <th scope="col">Kind</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((t) => (
                <tr key={`${t.client_order_id}-${t.timestamp}-${t.qty}`}>
                  <td>{utc(t.timestamp)}</td>
                  <td>{t.symbol}</td>
                  <td class={t.side === "buy" ? "up" : "down"}>{t.side}</td>
                  <td class="num">{t.qty}</td>
                  <td class="num">{t.price}</td>
                  <td class="num">{t.fee}</td>
                  <td class={`num ${sign(t.realized_pnl) > 0 ? "up" : sign(t.realized_pnl) < 0 ? "down" : ""}`}>
                    {t.realized_pnl}
                  </td>
                  <td>{t.order_type}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
