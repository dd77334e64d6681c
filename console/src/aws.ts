// The console speaks only the APIs boto3 users speak: the official AWS SDK for JavaScript v3 clients, pointed at
// the gateway that served this page (same origin, so no CORS), every call SigV4-signed with the signed-in key.
// Loaded as its own chunk after the first paint (App.tsx).
import { Personalize } from "@aws-sdk/client-personalize";
import { PersonalizeRuntime } from "@aws-sdk/client-personalize-runtime";
import { PersonalizeEvents } from "@aws-sdk/client-personalize-events";
import type { Session } from "./session";
import { TailorApi } from "./tailorApi";

export interface Clients {
  personalize: Personalize;
  runtime: PersonalizeRuntime;
  events: PersonalizeEvents;
  /** Tailor's console read API (docs/specs/console-api.md). */
  tailor: TailorApi;
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
    tailor: new TailorApi(session),
  };
}
