/**
 * `faas publish <topic> [--key K] [--header k=v]... <json>`: produce one test event to a topic
 * (Kafka, or the embedded log of `npm start`) through POST /v1/topics/:topic/records.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { parseData } from './invoke.ts';
import type { RegisterCommand } from './shared.ts';

function collectHeader(value: string, previous: Record<string, string>): Record<string, string> {
  const eq = value.indexOf('=');
  if (eq <= 0) throw new InvalidArgumentError(`--header takes name=value, got "${value}"`);
  return { ...previous, [value.slice(0, eq)]: value.slice(eq + 1) };
}

export const register: RegisterCommand = (program, cli) => {
  program
    .command('publish')
    .description('produce one record to a topic (JSON value; strings are sent as they are)')
    .argument('<topic>', 'topic name')
    .argument('<json>', 'the record value as JSON, or @file.json', parseData)
    .option('-k, --key <key>', 'record key (keeps order per key; picks the partition)')
    .option('-H, --header <name=value>', 'a record header (repeatable)', collectHeader, {})
    .option('--json', "print the gateway's answer as JSON")
    .action(async (topic: string, value: unknown, opts: { key?: string; header: Record<string, string>; json?: boolean }, cmd: Command) => {
      const record = { value, ...(opts.key !== undefined ? { key: opts.key } : {}), ...(Object.keys(opts.header).length > 0 ? { headers: opts.header } : {}) };
      const answer = await cli.client(cmd).publish(topic, [record]);
      if (opts.json) {
        cli.stdout.write(`${JSON.stringify(answer, null, 2)}\n`);
        return;
      }
      const first = answer.records[0];
      cli.stdout.write(`published to ${answer.topic} partition ${first?.partition} offset ${first?.offset}\n`);
    });
};
