// Deployed, an entry's photo URLs start with the distribution's origin, read from the Web stack's SSM
// parameter (infra/web-stack.ts) through Powertools Parameters: once per container, not per photo.
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { describe, expect, it, vi } from 'vitest';
import { ssmBaseUrl } from '../../functions/lib/images';

function ssmAnswering(...answers: (string | Error)[]) {
  const client = new SSMClient({ region: 'eu-west-1', credentials: { accessKeyId: 'a', secretAccessKey: 's' } });
  // send's callback overload returns void; the client is only ever called in its promise form.
  // eslint-disable-next-line @typescript-eslint/no-misused-promises
  const send = vi.spyOn(client, 'send').mockImplementation(async (command: unknown) => {
    expect(command).toBeInstanceOf(GetParameterCommand);
    const next = answers.shift();
    if (next === undefined) throw new Error('no more answers');
    if (next instanceof Error) throw next;
    return { Parameter: { Name: '/livecast/prod/images-base-url', Value: next } };
  });
  return { client, send };
}

describe("the photos' base URL from SSM", () => {
  it('is read once and kept: photos arriving together and later share the one read', async () => {
    const { client, send } = ssmAnswering('https://d111.cloudfront.net');
    const base = ssmBaseUrl(client, '/livecast/prod/images-base-url');
    expect(await Promise.all([base(), base(), base()])).toEqual(Array(3).fill('https://d111.cloudfront.net'));
    expect(await base()).toBe('https://d111.cloudfront.net');
    expect(send).toHaveBeenCalledTimes(1);
  });

  it('does not keep a failed read: the next photo asks again', async () => {
    const { client, send } = ssmAnswering(new Error('throttled'), 'https://d111.cloudfront.net');
    const base = ssmBaseUrl(client, '/livecast/prod/images-base-url');
    await expect(base()).rejects.toThrow('throttled');
    expect(await base()).toBe('https://d111.cloudfront.net');
    expect(send).toHaveBeenCalledTimes(2);
  });

  it('refuses a value that is not an https origin (a path, http, empty) rather than publish broken URLs', async () => {
    for (const bad of ['https://d111.cloudfront.net/images', 'http://d111.cloudfront.net', '']) {
      const { client } = ssmAnswering(bad);
      await expect(ssmBaseUrl(client, '/p')(), bad).rejects.toThrow(/holds no https:\/\/ origin/);
    }
  });
});
