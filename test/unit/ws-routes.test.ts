// Every client action of the contract has a WebSocket route of its own: `$default` (functions/ws-default.ts)
// answers only frames no route claims, and no longer carries a branch for a known action.
import { describe, expect, it } from 'vitest';
import { CLIENT_ACTIONS } from '../../shared/domain/protocol';
import { wsRoutes } from '../../shared/routes';

describe('WebSocket routes', () => {
  it('route every client action of the contract to a function of its own, and nothing else besides the $ routes', () => {
    const keys = wsRoutes.map((r) => r.routeKey);
    expect(keys.filter((k) => !k.startsWith('$')).sort()).toEqual([...CLIENT_ACTIONS].sort());
    expect(keys).toEqual(expect.arrayContaining(['$connect', '$disconnect', '$default']));
  });
});
