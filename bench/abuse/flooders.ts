// Child process: flooding anonymous sockets, written as a hostile script would be — every frame it
// may send it sends at once, it ignores `rate_limited` (and every other error), and when the server
// closes it, it connects again at once. The only restraint is the benchmark's own: at most
// `inFlight` unanswered frames per socket, so this process (and the gateway's queue) stay bounded.
import WebSocket from 'ws';
import { serve } from '../lib/child';
import { closeAll } from '../lib/close-all';

export interface FloodCounters {
  /** Frames sent, by action. */
  sent: { sync: number; ping: number; repost: number };
  /** Answers: pong, ack, synced, error frames (each closes one frame in flight). */
  answered: number;
  /** Error frames with code rate_limited (an answer too). */
  rateLimited: number;
  /** Other error frames, by code. */
  errors: Record<string, number>;
  /** Connections opened, including the first of each socket. */
  opened: number;
  /** Connections the server closed (not this process). */
  closedByServer: number;
  /** Handshakes refused (non-101) or failed, by status or error. */
  refused: Record<string, number>;
  /** Times a socket's frames went unanswered for STALL_MS and were written off. */
  stalls: number;
  /** Messages and bytes received (updates from syncs and live delivery included). */
  messages: number;
  bytes: number;
}

const PONG = Buffer.from('"type":"pong"');
const ACK = Buffer.from('"type":"ack"');
const SYNCED = Buffer.from('"type":"synced"');
const ERROR = Buffer.from('"type":"error"');
const RATE_LIMITED = Buffer.from('"code":"rate_limited"');
const CODE = Buffer.from('"code":"');

/** Unanswered this long, a socket's frames in flight are written off (an answer lost with a dropped reply). */
const STALL_MS = 15_000;
/** A refused handshake is tried again after this; not at once, or the two shared cores would measure a busy loop of refusals. */
const REFUSED_RETRY_MS = 100;
/** Past this much unsent data the socket is full: wait for answers (as `ws` would buffer without end). */
const MAX_BUFFERED = 1 << 20;

let counters: FloodCounters = fresh();
let running = false;
const sockets = new Set<WebSocket>();

function fresh(): FloodCounters {
  return {
    sent: { sync: 0, ping: 0, repost: 0 },
    answered: 0,
    rateLimited: 0,
    errors: {},
    opened: 0,
    closedByServer: 0,
    refused: {},
    stalls: 0,
    messages: 0,
    bytes: 0,
  };
}

const count = (map: Record<string, number>, key: string) => {
  map[key] = (map[key] ?? 0) + 1;
};

function errorCode(data: Buffer): string {
  const at = data.indexOf(CODE);
  if (at === -1) return 'unknown';
  const end = data.indexOf(0x22, at + CODE.length);
  return end === -1 ? 'unknown' : data.toString('utf8', at + CODE.length, end);
}

interface FloodArgs {
  url: string;
  sockets: number;
  inFlight: number;
  /** Reposts go to seqs 1..seqMax (the event's history). */
  seqMax: number;
  /** The address the flooders connect from (one hostile host; the honest viewers use 127.0.0.1). */
  localAddress?: string;
}

/** One flooding socket for as long as the flood runs: connects, floods, and on any close connects again. */
function flooder(args: FloodArgs, n: number): void {
  let k = n;
  const frameAt = (i: number): { action: keyof FloodCounters['sent']; text: string } => {
    switch (i % 3) {
      case 0:
        return { action: 'sync', text: '{"action":"sync","since":0}' };
      case 1:
        return { action: 'ping', text: '{"action":"ping"}' };
      default:
        return { action: 'repost', text: `{"action":"repost","seq":${1 + (i % args.seqMax)}}` };
    }
  };

  const connect = () => {
    if (!running) return;
    const socket = new WebSocket(args.url, {
      perMessageDeflate: false,
      ...(args.localAddress ? { localAddress: args.localAddress } : {}),
    });
    let opened = false;
    let refused = false;
    let inFlight = 0;
    let lastAnswer = performance.now();
    let stallTimer: NodeJS.Timeout | undefined;
    sockets.add(socket);

    const pump = () => {
      while (
        running &&
        inFlight < args.inFlight &&
        socket.readyState === WebSocket.OPEN &&
        socket.bufferedAmount < MAX_BUFFERED
      ) {
        const frame = frameAt(k++);
        socket.send(frame.text);
        counters.sent[frame.action]++;
        inFlight++;
      }
    };
    socket.once('open', () => {
      opened = true;
      counters.opened++;
      lastAnswer = performance.now();
      stallTimer = setInterval(() => {
        if (inFlight > 0 && performance.now() - lastAnswer > STALL_MS) {
          counters.stalls++;
          inFlight = 0;
          lastAnswer = performance.now();
          pump();
        }
      }, 1_000);
      pump();
    });
    socket.on('message', (data: Buffer) => {
      counters.messages++;
      counters.bytes += data.length;
      if (data.indexOf(ERROR) !== -1) {
        if (data.indexOf(RATE_LIMITED) !== -1) counters.rateLimited++;
        else count(counters.errors, errorCode(data));
      } else if (data.indexOf(PONG) === -1 && data.indexOf(ACK) === -1 && data.indexOf(SYNCED) === -1) return;
      counters.answered++;
      lastAnswer = performance.now();
      if (inFlight > 0) inFlight--;
      // The hostile part: whatever the answer said, send the next frame at once.
      pump();
    });
    socket.on('unexpected-response', (_req, res) => {
      refused = true;
      count(counters.refused, `HTTP ${res.statusCode}`);
      socket.terminate();
    });
    socket.on('error', (err) => {
      // terminate() after a refusal reports an error of its own: counted once, as the refusal.
      if (!opened && !refused && running) count(counters.refused, err.message);
    });
    socket.once('close', () => {
      clearInterval(stallTimer);
      sockets.delete(socket);
      if (!running) return;
      if (opened) {
        counters.closedByServer++;
        connect();
      } else setTimeout(connect, REFUSED_RETRY_MS);
    });
  };
  connect();
}

serve({
  /** Starts the flood and returns at once; counters start from zero. */
  start(args: FloodArgs) {
    if (running) throw new Error('the flood is already running');
    counters = fresh();
    running = true;
    for (let i = 0; i < args.sockets; i++) flooder(args, i);
    return null;
  },

  counters() {
    return counters;
  },

  /** Ends the flood: closes every socket (no reconnect) and returns the counters. */
  async stop() {
    running = false;
    await closeAll([...sockets], 5_000);
    sockets.clear();
    return counters;
  },
});
