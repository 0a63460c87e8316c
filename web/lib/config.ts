// Where the APIs are: `/config.json`, written by `npm start` locally and by the CDK stack when deployed.
export interface PageConfig {
  /** The HTTP API's base URL, without a trailing slash ("" = this origin). */
  apiUrl: string;
  /** The WebSocket API's URL (wss://… deployed, ws://… locally). */
  wsUrl: string;
}

export async function loadConfig(): Promise<PageConfig> {
  const res = await fetch('/config.json', { cache: 'no-store' });
  if (!res.ok) throw new Error(`could not load /config.json (HTTP ${res.status})`);
  const c = (await res.json()) as Partial<PageConfig>;
  if (typeof c.apiUrl !== 'string' || typeof c.wsUrl !== 'string')
    throw new Error('/config.json lacks apiUrl or wsUrl');
  return { apiUrl: c.apiUrl.replace(/\/+$/, ''), wsUrl: c.wsUrl.replace(/\/+$/, '') };
}

/** GET a JSON document from the HTTP API; errors carry the contract's message. */
export async function getJson<T>(config: PageConfig, path: string): Promise<T> {
  const res = await fetch(`${config.apiUrl}${path}`);
  const body = (await res.json().catch(() => undefined)) as { error?: { message?: string } } | undefined;
  if (!res.ok) throw new ApiError(res.status, body?.error?.message ?? `HTTP ${res.status}`);
  return body as T;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** `wss://…/live?eventId=E[&token=T]` deployed (the stage is the path), `ws://127.0.0.1:3001/?eventId=E` locally. */
export function socketUrl(config: PageConfig, eventId: string, token?: string): string {
  const url = new URL(config.wsUrl);
  url.searchParams.set('eventId', eventId);
  if (token) url.searchParams.set('token', token);
  return url.toString();
}
