// The signed-in key and the error text; no SDK here, so the first paint does not wait for the SDK (ADR 0029).
export interface Session {
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
}

const KEY = "tailor.console.session";

/** The signed-in key, kept in sessionStorage only: it ends with the tab, never written to disk by the page. */
export function loadSession(): Session | null {
  const raw = sessionStorage.getItem(KEY);
  return raw ? (JSON.parse(raw) as Session) : null;
}

export function saveSession(session: Session | null): void {
  if (session) sessionStorage.setItem(KEY, JSON.stringify(session));
  else sessionStorage.removeItem(KEY);
}

/** The typed Personalize error as the SDK reports it: "ResourceNotFoundException: <message>". */
export function errorText(err: unknown): string {
  if (err && typeof err === "object" && "name" in err && "message" in err) {
    return `${String((err as { name: string }).name)}: ${String((err as { message: string }).message)}`;
  }
  return String(err);
}
