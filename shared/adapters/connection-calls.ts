// The hook the local stage uses to check @connections calls against what the calling function
// declared (shared/routes.ts `manageConnections`), as it checks DynamoDB calls: IAM is not enforced
// locally, so without it an under-declared method passes every test and is refused on AWS.
import type { ConnectionMethod } from '../routes';

export type ConnectionCallCheck = (method: ConnectionMethod, connectionId: string) => void;

let check: ConnectionCallCheck | undefined;

/** Registers the check (the local stage does; nothing is registered on AWS). */
export function checkConnectionCalls(next: ConnectionCallCheck | undefined): void {
  check = next;
}

/** Called by the adapters before each management API call; throws what AWS would answer if refused. */
export function connectionCall(method: ConnectionMethod, connectionId: string): void {
  check?.(method, connectionId);
}
