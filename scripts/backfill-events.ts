// `npm run backfill-events`: once, after the deploy that added the Events table's byCreated index,
// gives the events created before it their place in the organiser's list (GET /events).
// Where: LIVECAST_TABLE_EVENTS (the table's physical name; AWS_REGION and credentials as usual), or
// LIVECAST_DYNAMODB_ENDPOINT for a local one.
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { backfillListed } from '../shared/adapters/dynamo-event-store';
import { ENV } from '../shared/config';
import { eventsTable } from '../shared/tables';

const table = process.env[eventsTable.envVar];
if (!table) {
  console.error(`backfill-events: set ${eventsTable.envVar} to the Events table's name`);
  process.exit(2);
}
const endpoint = process.env[ENV.dynamoEndpoint];
const db = DynamoDBDocumentClient.from(new DynamoDBClient(endpoint ? { endpoint } : {}));
const changed = await backfillListed(db, table);
console.log(`backfill-events: ${changed} event(s) added to the organiser's list`);
db.destroy();
