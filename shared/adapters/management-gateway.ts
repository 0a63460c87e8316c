// ConnectionGateway on the API Gateway management API (AWS's or the local stage's).
import {
  type ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import type { ConnectionCloser, ConnectionGateway, PostResult } from '../domain/ports';
import { connectionCall } from './connection-calls';

export class ManagementApiGateway implements ConnectionGateway, ConnectionCloser {
  constructor(private readonly client: ApiGatewayManagementApiClient) {}

  async post(connectionId: string, payload: Uint8Array): Promise<PostResult> {
    connectionCall('POST', connectionId);
    try {
      await this.client.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: payload }));
      return 'ok';
    } catch (err) {
      // SDK v3 errors carry a name and $metadata, not a statusCode.
      const { name, $metadata } = err as { name?: string; $metadata?: { httpStatusCode?: number } };
      if (name === 'GoneException') return 'gone';
      if (name === 'LimitExceededException' || $metadata?.httpStatusCode === 429) return 'throttled';
      throw err;
    }
  }

  async close(connectionId: string): Promise<'closed' | 'gone'> {
    connectionCall('DELETE', connectionId);
    try {
      await this.client.send(new DeleteConnectionCommand({ ConnectionId: connectionId }));
      return 'closed';
    } catch (err) {
      if ((err as { name?: string }).name === 'GoneException') return 'gone';
      throw err;
    }
  }
}
