// Asks for the API token. It is kept in sessionStorage: this tab only, gone when it closes.
import { useEffect, useRef, useState } from "preact/hooks";

import { saveToken } from "../api";

interface Props {
  purpose: string;
  onSaved: () => void;
  onCancel: () => void;
}

export function TokenDialog({ purpose, onSaved, onCancel }: Props) {
  const dialog = useRef<HTMLDialogElement>(null);
  const [value, setValue] = useState("");
  useEffect(() => {
    dialog.current?.showModal();
  }, []);
  return (
    <dialog
      ref={dialog}
      class="confirm"
      aria-labelledby="token-title"
      onCancel={onCancel}
      data-testid="token-dialog"
    >
      <form
        method="dialog"
        onSubmit={(e) => {
          e.preventDefault();
          if (value.trim() === "") return;
          saveToken(value);
          dialog.current?.close();
          onSaved();
        }}
      >
        <h3 id="token-title">API token</h3>
        <p>
          {purpose} needs the SIGMAX API token: the file <code>api_token</code> in SIGMAX_HOME,
          or SIGMAX_API_TOKEN. This tab keeps it until it closes.
        </p>
        <label for="api-token">Token</label>
        <input
          id="api-token"
          type="password"
          autocomplete="off"
          spellcheck={false}
          required
          value={value}
          onInput={(e) => setValue(e.currentTarget.value)}
        />
        <div class="control-row">
          <button
            type="button"
            onClick={() => {
              dialog.current?.close();
              onCancel();
            }}
          >
            Cancel
          </button>
          <button type="submit">Use this token</button>
        </div>
      </form>
    </dialog>
  );
}
