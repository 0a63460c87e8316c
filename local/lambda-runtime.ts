// A Lambda execution environment of the local stage, as a child process: loads one handler module
// and runs the invocations its parent (local/lambda-processes.ts) sends over the IPC channel.
// argv: <handler module path> <function name> <timeout ms>
import { pathToFileURL } from 'node:url';
import { deliveryWorker, httpRoutes, scheduled, streamTriggers, wsAuthorizer, wsRoutes } from '../shared/routes';
import { asFunction } from './grants';
import { lambdaContext, type Invoke } from './lambda-context';

export type ToRuntime = { type: 'invoke'; id: number; event: unknown; deadline: number } | { type: 'stop' };
export type FromRuntime =
  | { type: 'ready' }
  | { type: 'result'; id: number; ok: true; value: unknown }
  | { type: 'result'; id: number; ok: false; error: { name: string; message: string; stack?: string } };

async function main(): Promise<void> {
  const [modulePath, functionName, timeout] = process.argv.slice(2);
  if (!process.send || !modulePath || !functionName)
    throw new Error('lambda-runtime: start me with fork(module, function name, timeout ms)');
  const channel = process.send.bind(process) as (m: FromRuntime) => void;
  // A result that finds the stage gone has no one to go to.
  const send = (m: FromRuntime) => {
    if (process.connected) channel(m);
  };
  const timeoutMs = Number(timeout) || 30_000;
  const mod = (await import(pathToFileURL(modulePath).href)) as { handler?: Invoke };
  const loaded = mod.handler;
  if (typeof loaded !== 'function') throw new Error(`${modulePath} does not export a handler`);
  // As in the stage's own process: the function's DynamoDB calls are checked against its grants.
  const def = [wsAuthorizer, ...wsRoutes, ...httpRoutes, deliveryWorker, ...streamTriggers, ...scheduled].find((d) =>
    functionName.endsWith(d.id),
  );
  const handler: Invoke = def ? (event, context) => asFunction(def, () => loaded(event, context)) : loaded;

  // When the stage stops, every running invocation sees its time run out, as at Lambda's timeout.
  let stopping = false;
  const running = new Set<number>();
  let disconnected = false;
  const exitWhenDone = () => {
    if (disconnected && running.size === 0) process.exit(0);
  };

  process.on('message', (m: ToRuntime) => {
    if (m.type === 'stop') {
      stopping = true;
      return;
    }
    running.add(m.id);
    const context = lambdaContext(functionName, { timeoutMs });
    context.getRemainingTimeInMillis = () => (stopping ? 0 : Math.max(0, m.deadline - Date.now()));
    void (async () => {
      try {
        const value: unknown = await handler(m.event, context);
        send({ type: 'result', id: m.id, ok: true, value: value === undefined ? null : value });
      } catch (err) {
        const e = err instanceof Error ? err : new Error(String(err));
        send({
          type: 'result',
          id: m.id,
          ok: false,
          error: { name: e.name, message: e.message, ...(e.stack ? { stack: e.stack } : {}) },
        });
      } finally {
        running.delete(m.id);
        exitWhenDone();
      }
    })();
  });
  process.on('disconnect', () => {
    disconnected = true;
    stopping = true;
    exitWhenDone();
  });
  send({ type: 'ready' });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
