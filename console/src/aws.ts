// The console speaks only the APIs boto3 users speak: the official AWS SDK for JavaScript v3 clients, pointed at
// the gateway that served this page (same origin, so no CORS), every call SigV4-signed with the signed-in key.
import { Personalize } from "@aws-sdk/client-personalize";
import { PersonalizeRuntime } from "@aws-sdk/client-personalize-runtime";
import { PersonalizeEvents } from "@aws-sdk/client-personalize-events";

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

export interface Clients {
  personalize: Personalize;
  runtime: PersonalizeRuntime;
  events: PersonalizeEvents;
}

export function makeClients(session: Session): Clients {
  const config = {
    region: session.region,
    endpoint: window.location.origin,
    credentials: { accessKeyId: session.accessKeyId, secretAccessKey: session.secretAccessKey },
    maxAttempts: 2,
  };
  return {
    personalize: new Personalize(config),
    runtime: new PersonalizeRuntime(config),
    events: new PersonalizeEvents(config),
  };
}

/** The typed Personalize error as the SDK reports it: "ResourceNotFoundException: <message>". */
export function errorText(err: unknown): string {
  if (err && typeof err === "object" && "name" in err && "message" in err) {
    return `${String((err as { name: string }).name)}: ${String((err as { message: string }).message)}`;
  }
  return String(err);
}
