// The decisions as they come, newest first; each opens into why it was taken.
import { useEffect, useState } from "preact/hooks";

import { describe, get } from "../api";
import { num, pct, utc } from "../format";
import type { AgentReport, DecisionRecord, DecisionSummary, Evidence } from "../types";

/** The most /api/history returns: how far back an announced decision can be looked up. */
const HISTORY_LIMIT = 1000;

interface Props {
  decisions: DecisionSummary[];
  records: Map<string, DecisionRecord>;
  remember: (record: DecisionRecord) => void;
}

export function Decisions({ decisions, records, remember }: Props) {
  const [open, setOpen] = useState<string | null>(null);
  const [actionsOnly, setActionsOnly] = useState(false);
  const shown = actionsOnly ? decisions.filter((d) => d.decision !== "HOLD") : decisions;
  return (
    <section aria-labelledby="decisions-title" class="panel decisions">
      <header class="panel-head">
        <h2 id="decisions-title">Decisions</h2>
        <label class="inline">
          <input
            type="checkbox"
            checked={actionsOnly}
            onChange={(e) => setActionsOnly(e.currentTarget.checked)}
          />{" "}
          Buys and sells only
        </label>
      </header>
      {shown.length === 0 ? (
        <p class="muted">No decision yet.</p>
      ) : (
        <ol class="feed" data-testid="decision-feed" aria-live="polite" aria-relevant="additions">
          {shown.map((d) => (
            <li key={d.id} data-decision-id={d.id}>
              <button
                type="button"
                class="feed-item"
                aria-expanded={open === d.id}
                aria-controls={`why-${d.id}`}
                onClick={() => setOpen(open === d.id ? null : d.id)}
              >
                <span class={`action ${d.decision.toLowerCase()}`}>{d.decision}</span>
                <span class="symbol">{d.symbol}</span>
                <span class="muted">{utc(d.timestamp)}</span>
                <span class="muted">
                  score {num(d.score, 3)} · conf. {pct(d.confidence * 100, 0)}
                  {d.size_usd > 0 ? ` · ${d.size_usd.toFixed(2)} USD` : ""}
                </span>
              </button>
              {open === d.id && (
                <div id={`why-${d.id}`} class="why">
                  <Explanation summary={d} records={records} remember={remember} />
                </div>
              )}
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}

function Explanation({
  summary,
  records,
  remember,
}: {
  summary: DecisionSummary;
  records: Map<string, DecisionRecord>;
  remember: (record: DecisionRecord) => void;
}) {
  const [error, setError] = useState<string | null>(null);
  const record = records.get(summary.id);
  const known = record !== undefined;
  useEffect(() => {
    if (known) return;
    // The stream announces a decision; its whole record is in the stored history.
    get<{ decisions: DecisionRecord[] }>("/api/history", {
      symbol: summary.symbol,
      limit: HISTORY_LIMIT,
    })
      .then((answer) => {
        const found = answer.decisions.find((d) => d.id === summary.id);
        if (found) remember(found);
        else
          setError(
            `This decision is older than the newest ${HISTORY_LIMIT} stored for ${summary.symbol}.`,
          );
      })
      .catch((e: unknown) => setError(describe(e)));
  }, [summary.id, summary.symbol, known, remember]);
  if (record) return <DecisionDetail record={record} />;
  if (error) return <p class="error" role="alert">{error}</p>;
  return <p class="muted">Loading the explanation…</p>;
}

function EvidenceList({ items }: { items: Evidence[] }) {
  if (items.length === 0) return null;
  return (
    <dl class="evidence">
      {items.map((e, i) => (
        <div key={`${e.key}-${i}`}>
          <dt>{e.label}</dt>
          <dd>{num(e.value)}</dd>
        </div>
      ))}
    </dl>
  );
}

/** One research item as the researcher recorded it (the items its reading counted). */
interface ResearchItem {
  title: string;
  source: string;
  published_at: string;
  url: string | null;
  score: number;
  weight: number;
}

/** A link only to a web page: a feed's item may carry any text where its link should be. */
function safeLink(url: string | null): string | null {
  if (!url) return null;
  try {
    const parsed = new URL(url);
    return parsed.protocol === "https:" || parsed.protocol === "http:" ? parsed.href : null;
  } catch {
    return null;
  }
}

function Research({ record }: { record: DecisionRecord }) {
  const researcher = agent(record, "researcher");
  const details = researcher?.details ?? {};
  const sources = (details.sources ?? {}) as Record<string, string>;
  const items = (Array.isArray(details.items) ? details.items : []) as ResearchItem[];
  return (
    <div class="research" data-testid="research">
      <h4>Research</h4>
      <p>{record.reasoning.sentiment ?? researcher?.argument}</p>
      {Object.keys(sources).length > 0 && (
        <dl class="evidence">
          {Object.entries(sources).map(([name, state]) => (
            <div key={name}>
              <dt>{name}</dt>
              <dd class={state === "available" ? "" : "muted"}>{state}</dd>
            </div>
          ))}
        </dl>
      )}
      {items.length > 0 && (
        <ul class="items" data-testid="research-items">
          {items.map((item, i) => {
            const href = safeLink(item.url);
            return (
              <li key={`${item.published_at}-${i}`}>
                <span class={item.score > 0 ? "up" : item.score < 0 ? "down" : "muted"}>
                  {num(item.score, 2)}
                </span>{" "}
                {href ? (
                  <a href={href} rel="noopener noreferrer nofollow" target="_blank">
                    {item.title}
                  </a>
                ) : (
                  item.title
                )}{" "}
                <span class="muted">
                  {item.source} · {utc(item.published_at)} · weight {num(item.weight, 2)}
                </span>
              </li>
            );
          })}
        </ul>
      )}
    </div>
  );
}

function agent(record: DecisionRecord, name: string): AgentReport | undefined {
  return record.agents.find((a) => a.name === name);
}

export function DecisionDetail({ record }: { record: DecisionRecord }) {
  const bull = agent(record, "bull");
  const bear = agent(record, "bear");
  const analyzer = agent(record, "analyzer");
  const risk = agent(record, "risk");
  const policy = agent(record, "rl");
  const slowest = Math.max(0.001, ...record.agents.map((a) => a.latency_ms));
  const verdict = record.compliance;
  return (
    <div class="detail" data-testid="decision-detail">
      <p class="reasoning">{record.reasoning.decision}</p>
      <div class="sides">
        <article class="side bull" aria-label="Bull case">
          <h4>
            Bull <span class="muted">score {num(bull?.score ?? 0, 3)}</span>
          </h4>
          <p>{record.reasoning.bull_argument ?? bull?.argument}</p>
        </article>
        <article class="side bear" aria-label="Bear case">
          <h4>
            Bear <span class="muted">score {num(bear?.score ?? 0, 3)}</span>
          </h4>
          <p>{record.reasoning.bear_argument ?? bear?.argument}</p>
        </article>
      </div>
      {record.debate.length > 0 && (
        <div class="debate">
          <h4>Debate</h4>
          {record.debate.map((round) => (
            <div class="sides round" key={round.round}>
              <p class="side bull">
                <strong>Round {round.round}, bull:</strong> {round.bull}
              </p>
              <p class="side bear">
                <strong>Round {round.round}, bear:</strong> {round.bear}
              </p>
            </div>
          ))}
        </div>
      )}
      <h4>Technical analysis</h4>
      <p>{record.reasoning.technical_analysis}</p>
      <EvidenceList items={analyzer?.evidence ?? []} />
      <dl class="evidence">
        {Object.entries(record.indicators).map(([name, value]) => (
          <div key={name}>
            <dt>{name}</dt>
            <dd>{num(value)}</dd>
          </div>
        ))}
      </dl>
      <Research record={record} />
      {policy && (
        <div data-testid="policy-vote">
          <h4>Learned policy</h4>
          <p>
            {String(policy.details.action)} with probability {num(Number(policy.details.probability), 3)}
            , weight {num(Number(policy.details.weight), 2)}, model{" "}
            <code>{String(policy.details.model)}</code>
          </p>
          <p class="muted">{policy.argument}</p>
        </div>
      )}
      <h4>Risk</h4>
      <p>{record.reasoning.risk_assessment}</p>
      <EvidenceList items={risk?.evidence ?? []} />
      <h4>Policy verdict</h4>
      {verdict === null ? (
        <p class="muted">No order was attempted, so no policy was asked.</p>
      ) : (
        <div data-testid="policy-verdict">
          <p class={verdict.allowed ? "up" : "down"}>
            {verdict.allowed ? "Allowed" : "Refused"}
            {verdict.reason ? `: ${verdict.reason}` : ""}
            {verdict.verdict ? ` (${verdict.verdict.evaluator} evaluator)` : ""}
          </p>
          {verdict.verdict && verdict.verdict.violations.length > 0 && (
            <ul>
              {verdict.verdict.violations.map((v) => (
                <li key={v.rule + v.message}>
                  <code>{v.rule}</code>: {v.message}
                </li>
              ))}
            </ul>
          )}
        </div>
      )}
      <h4>Latency per agent</h4>
      <table class="latency">
        <caption class="sr-only">Milliseconds each agent took</caption>
        <tbody>
          {record.agents.map((a) => (
            <tr key={a.name}>
              <th scope="row">{a.name}</th>
              <td>
                <span class="bar" style={{ width: `${(100 * a.latency_ms) / slowest}%` }} />
              </td>
              <td>{a.latency_ms.toFixed(3)} ms</td>
            </tr>
          ))}
          <tr>
            <th scope="row">whole decision</th>
            <td />
            <td>{record.latency_ms.toFixed(3)} ms</td>
          </tr>
        </tbody>
      </table>
    </div>
  );
}
