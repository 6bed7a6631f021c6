// Pause (for a while or until resumed), resume, and panic behind a confirmation. The token is
// asked for once, when first needed, and kept for this tab only.
import { useRef, useState } from "preact/hooks";

import { ApiError, describe, forgetToken, post, readToken } from "../api";
import type { CommandAnswer } from "../types";
import { TokenDialog } from "./TokenDialog";

const DURATIONS: { seconds: number | null; text: string }[] = [
  { seconds: 300, text: "5 minutes" },
  { seconds: 900, text: "15 minutes" },
  { seconds: 3600, text: "1 hour" },
  { seconds: 4 * 3600, text: "4 hours" },
  { seconds: 86400, text: "24 hours" },
  { seconds: null, text: "until resumed" },
];

interface Props {
  paused: boolean;
  /** Called after a command was answered, so the page shows the new state at once. */
  onChanged: () => Promise<void>;
  /** Called when a token was given, so the live stream can start with it. */
  onToken: () => void;
}

type Pending = { path: string; body: unknown; what: string } | null;

export function Controls({ paused, onChanged, onToken }: Props) {
  const [duration, setDuration] = useState<string>("900");
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);
  const [asking, setAsking] = useState<Pending>(null);
  const panicDialog = useRef<HTMLDialogElement>(null);

  async function send(path: string, body: unknown, what: string): Promise<void> {
    if (readToken() === null) {
      setAsking({ path, body, what });
      return;
    }
    setBusy(true);
    setMessage(null);
    try {
      const answer = await post<CommandAnswer>(path, body);
      setMessage({ ok: answer.status !== "refused", text: `${what}: ${answer.message}` });
      await onChanged();
    } catch (error) {
      if (error instanceof ApiError && error.unauthorised) {
        forgetToken();
        setMessage({ ok: false, text: `${what} refused: ${error.message}. Enter the token again.` });
        setAsking({ path, body, what });
      } else {
        setMessage({ ok: false, text: `${what} failed: ${describe(error)}` });
      }
    } finally {
      setBusy(false);
    }
  }

  const pause = () => {
    const seconds = duration === "" ? null : Number(duration);
    void send("/api/control/pause", { duration: seconds }, "Pause");
  };

  return (
    <section aria-labelledby="controls-title" class="panel controls">
      <h2 id="controls-title">Controls</h2>
      <div class="control-row">
        <label for="pause-duration">Pause for</label>
        <select
          id="pause-duration"
          value={duration}
          onChange={(e) => setDuration(e.currentTarget.value)}
        >
          {DURATIONS.map((d) => (
            <option key={d.text} value={d.seconds === null ? "" : String(d.seconds)}>
              {d.text}
            </option>
          ))}
        </select>
        <button type="button" onClick={pause} disabled={busy}>
          Pause
        </button>
        <button
          type="button"
          onClick={() => void send("/api/control/resume", { force: false }, "Resume")}
          disabled={busy || !paused}
        >
          Resume
        </button>
        <button
          type="button"
          class="danger"
          onClick={() => panicDialog.current?.showModal()}
          disabled={busy}
        >
          Panic…
        </button>
      </div>
      {message && (
        <p class={message.ok ? "notice" : "error"} role={message.ok ? "status" : "alert"} data-testid="control-message">
          {message.text}
        </p>
      )}
      <dialog ref={panicDialog} aria-labelledby="panic-title" aria-describedby="panic-text" class="confirm">
        <form method="dialog">
          <h3 id="panic-title">Panic: close everything?</h3>
          <p id="panic-text">
            SIGMAX cancels every open order, sells every position at market and pauses trading.
            This cannot be undone.
          </p>
          <div class="control-row">
            <button type="submit" value="cancel" autofocus>
              Cancel
            </button>
            <button
              type="submit"
              value="confirm"
              class="danger"
              onClick={() => void send("/api/control/panic", { confirm: true }, "Panic")}
            >
              Close everything and pause
            </button>
          </div>
        </form>
      </dialog>
      {asking && (
        <TokenDialog
          purpose={asking.what}
          onCancel={() => setAsking(null)}
          onSaved={() => {
            const pending = asking;
            setAsking(null);
            onToken();
            void send(pending.path, pending.body, pending.what);
          }}
        />
      )}
    </section>
  );
}
