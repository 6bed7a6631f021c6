// The API client. The token lives in sessionStorage only (gone when the tab closes), travels
// only in the Authorization header or the stream's first message, and is never logged.
import type { ErrorBody } from "./types";

const TOKEN_KEY = "sigmax.apiToken";

export function readToken(): string | null {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null; // storage disabled: the page asks again when a token is needed
  }
}

export function saveToken(token: string): void {
  sessionStorage.setItem(TOKEN_KEY, token.trim());
}

export function forgetToken(): void {
  sessionStorage.removeItem(TOKEN_KEY);
}

/** An answer that was not 2xx, with the API's own words when it sent them. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly rule: string,
    message: string,
  ) {
    super(message);
    this.name = "ApiError";
  }

  get unauthorised(): boolean {
    return this.status === 401;
  }
}

async function errorFrom(response: Response): Promise<ApiError> {
  const text = await response.text();
  try {
    const body = JSON.parse(text) as Partial<ErrorBody>;
    if (body.error && typeof body.error.message === "string") {
      return new ApiError(response.status, body.error.rule, body.error.message);
    }
  } catch {
    // not the API's JSON error body: show what came back
  }
  const what = text.trim().slice(0, 200) || response.statusText;
  return new ApiError(response.status, "http", `HTTP ${response.status}: ${what}`);
}

async function call<T>(method: "GET" | "POST", path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  const token = readToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? null : JSON.stringify(body),
      cache: "no-store",
    });
  } catch (error) {
    throw new ApiError(0, "network", `SIGMAX does not answer (${String(error)})`);
  }
  if (!response.ok) throw await errorFrom(response);
  return (await response.json()) as T;
}

export function get<T>(path: string, params?: Record<string, string | number>): Promise<T> {
  const query = params ? `?${new URLSearchParams(stringValues(params)).toString()}` : "";
  return call<T>("GET", path + query);
}

export function post<T>(path: string, body: unknown): Promise<T> {
  return call<T>("POST", path, body);
}

function stringValues(params: Record<string, string | number>): Record<string, string> {
  return Object.fromEntries(Object.entries(params).map(([k, v]) => [k, String(v)]));
}

export function describe(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  return error instanceof Error ? error.message : String(error);
}
