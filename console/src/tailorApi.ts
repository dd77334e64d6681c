// Tailor's console read API (docs/specs/console-api.md): Tailor.<Action> over the gateway's AWS JSON 1.1,
// SigV4-signed like every Personalize call (signing name "personalize"), with the same session credentials.
import { SignatureV4 } from "@smithy/signature-v4";
import { HttpRequest } from "@smithy/protocol-http";
import { Sha256 } from "@aws-crypto/sha256-js";
import type { Session } from "./session";

export interface TrainingProgress {
  solutionVersionArn: string;
  status?: string;
  stage?: string;
  epoch?: number;
  maxEpochs?: number;
  loss?: number;
  lossHistory?: { stage: string; epoch: number; loss: number }[];
  lastUpdatedDateTime?: number;
}

export interface ImportProgress {
  datasetImportJobArn: string;
  status?: string;
  percentComplete?: number;
  recordsProcessed?: number;
  recordsImported?: number;
  bytesRead?: number;
}

export interface RecentEvent {
  itemId: string;
  eventType: string;
  eventValue?: number;
  sentAt: number;
}

export interface TrendingItem {
  itemId: string;
  interactions: number;
  previousInteractions: number;
  growth: number;
}

export interface AttributionValue {
  metricName: string;
  eventAttributionSource: string;
  value: number;
}

/** A Personalize-style typed error (`name` is the `__type` code), as the SDK clients throw. */
export class TailorApiError extends Error {}

export class TailorApi {
  private readonly signer: SignatureV4;

  constructor(session: Session) {
    this.signer = new SignatureV4({
      service: "personalize",
      region: session.region,
      credentials: { accessKeyId: session.accessKeyId, secretAccessKey: session.secretAccessKey },
      sha256: Sha256,
    });
  }

  async call<T>(action: string, body: object): Promise<T> {
    const request = new HttpRequest({
      method: "POST",
      protocol: window.location.protocol,
      hostname: window.location.hostname,
      port: window.location.port ? Number(window.location.port) : undefined,
      path: "/",
      headers: {
        host: window.location.host,
        "content-type": "application/x-amz-json-1.1",
        "x-amz-target": `Tailor.${action}`,
      },
      body: JSON.stringify(body),
    });
    const signed = await this.signer.sign(request);
    const headers = { ...signed.headers };
    delete headers.host; // the browser sets Host itself (the same value: this origin)
    const response = await fetch("/", { method: "POST", headers, body: signed.body as string });
    const payload = (await response.json().catch(() => ({}))) as Record<string, unknown>;
    if (!response.ok) {
      const error = new TailorApiError(String(payload.message ?? payload.Message ?? response.statusText));
      error.name = String(payload.__type ?? `HTTP ${response.status}`).split("#").pop() ?? "Error";
      throw error;
    }
    return payload as T;
  }

  trainingProgress(solutionVersionArn: string) {
    return this.call<{ trainingProgress: TrainingProgress }>("DescribeTrainingProgress", { solutionVersionArn }).then(
      (r) => r.trainingProgress,
    );
  }

  importProgress(datasetImportJobArn: string) {
    return this.call<{ importProgress: ImportProgress }>("DescribeDatasetImportJobProgress", {
      datasetImportJobArn,
    }).then((r) => r.importProgress);
  }

  recentEvents(datasetGroupArn: string, userId: string, maxResults = 25) {
    return this.call<{ events: RecentEvent[] }>("ListRecentEvents", { datasetGroupArn, userId, maxResults }).then(
      (r) => r.events,
    );
  }

  trendingItems(datasetGroupArn: string, windowSizeSeconds: number, maxResults = 25) {
    return this.call<{ windowSizeSeconds: number; windowStartDateTime?: number; items: TrendingItem[] }>(
      "ListTrendingItems",
      { datasetGroupArn, windowSizeSeconds, maxResults },
    );
  }

  attributionValues(metricAttributionArn: string) {
    return this.call<{ readDateTime: number; values: AttributionValue[] }>("GetMetricAttributionValues", {
      metricAttributionArn,
    });
  }
}
