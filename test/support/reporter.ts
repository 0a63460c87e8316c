// A reporter on a real socket of its own, for tests that need updates made while they watch a page:
// each change is sent with a fresh clientId and waited for until its ack (the durable write).
import type { AckFrame } from '../../shared/domain/protocol';
import { type CreatedEvent, reporterUrl } from './stage';
import type { Stage } from '../../local/stage';
import { connect } from './ws-client';

export type Reporter = Awaited<ReturnType<typeof reporterFor>>;

export async function reporterFor(stage: Stage, event: CreatedEvent, { prefix = 'r', timeoutMs = 10_000 } = {}) {
  const socket = await connect(reporterUrl(stage, event));
  let n = 0;
  const send = async (frame: Record<string, unknown>): Promise<AckFrame> => {
    const clientId = `${prefix}${++n}`;
    socket.send({ ...frame, clientId });
    const reply = await socket.next((f) => (f.type === 'ack' || f.type === 'error') && f.clientId === clientId, {
      timeoutMs,
    });
    if (reply.type !== 'ack' || !('rev' in reply))
      throw new Error(`${String(frame.action)} refused: ${JSON.stringify(reply)}`);
    return reply;
  };
  return {
    socket,
    publish: (text: string, kind: 'text' | 'key' = 'text') => send({ action: 'publish', text, kind }),
    edit: (seq: number, text: string) => send({ action: 'edit', seq, text }),
    remove: (seq: number) => send({ action: 'delete', seq }),
    pin: (seq: number, pinned = true) => send({ action: 'pin', seq, pinned }),
  };
}
