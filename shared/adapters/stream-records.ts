// DynamoDB Streams records as the Streams API gives them (through the SDK) turned into the shape
// Lambda delivers to a stream trigger; used by the local event source mapping and by the redrive,
// which must build the very event the trigger would have got.
import type { _Record, AttributeValue as SdkAttributeValue } from '@aws-sdk/client-dynamodb-streams';
import type { AttributeValue, DynamoDBRecord } from 'aws-lambda';

/** A Streams API record in the shape Lambda delivers it: same fields, epoch seconds, base64 binaries. */
export function toLambdaRecord(record: _Record, eventSourceARN: string): DynamoDBRecord {
  const d = record.dynamodb ?? {};
  const created = d.ApproximateCreationDateTime;
  const dynamodb: NonNullable<DynamoDBRecord['dynamodb']> = {
    ...(created !== undefined
      ? { ApproximateCreationDateTime: created instanceof Date ? created.getTime() / 1000 : Number(created) }
      : {}),
    ...(d.Keys ? { Keys: image(d.Keys) } : {}),
    ...(d.NewImage ? { NewImage: image(d.NewImage) } : {}),
    ...(d.OldImage ? { OldImage: image(d.OldImage) } : {}),
    ...(d.SequenceNumber !== undefined ? { SequenceNumber: d.SequenceNumber } : {}),
    ...(d.SizeBytes !== undefined ? { SizeBytes: d.SizeBytes } : {}),
    ...(d.StreamViewType !== undefined ? { StreamViewType: d.StreamViewType } : {}),
  };
  return {
    ...(record.eventID !== undefined ? { eventID: record.eventID } : {}),
    ...(record.eventName !== undefined ? { eventName: record.eventName } : {}),
    ...(record.eventVersion !== undefined ? { eventVersion: record.eventVersion } : {}),
    ...(record.eventSource !== undefined ? { eventSource: record.eventSource } : {}),
    ...(record.awsRegion !== undefined ? { awsRegion: record.awsRegion } : {}),
    dynamodb,
    // The Streams API spells these PrincipalId/Type; Lambda's event spells them as below.
    ...(record.userIdentity
      ? { userIdentity: { type: record.userIdentity.Type, principalId: record.userIdentity.PrincipalId } }
      : {}),
    eventSourceARN,
  };
}

function image(item: Record<string, SdkAttributeValue>): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = {};
  for (const [name, value] of Object.entries(item)) out[name] = attribute(value);
  return out;
}

const base64 = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');

function attribute(value: SdkAttributeValue): AttributeValue {
  if (value.B !== undefined) return { B: base64(value.B) };
  if (value.BS !== undefined) return { BS: value.BS.map(base64) };
  if (value.M !== undefined) return { M: image(value.M) };
  if (value.L !== undefined) return { L: value.L.map(attribute) };
  if (value.S !== undefined) return { S: value.S };
  if (value.N !== undefined) return { N: value.N };
  if (value.SS !== undefined) return { SS: [...value.SS] };
  if (value.NS !== undefined) return { NS: [...value.NS] };
  if (value.BOOL !== undefined) return { BOOL: value.BOOL };
  if (value.NULL !== undefined) return { NULL: value.NULL };
  return { ...(value as object) } as AttributeValue;
}
