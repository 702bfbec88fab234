/** Reading command-line input: option parsers commander calls, and the files some commands take. */
import fs from 'node:fs';
import { InvalidArgumentError } from 'commander';
import { UsageError } from './context';

export const positiveInt = (raw: string): number => {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive whole number');
  return n;
};

export const list = (raw: string): string[] =>
  raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');

export const jsonObject = (raw: string): Record<string, unknown> => {
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch (e) {
    throw new InvalidArgumentError(`not valid JSON: ${(e as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new InvalidArgumentError('must be a JSON object');
  return v as Record<string, unknown>;
};

/** `--template` or `--template-file` (a path, or `-` for stdin), exactly one. */
export function readTemplate(o: { template?: string; templateFile?: string }): string {
  if ((o.template === undefined) === (o.templateFile === undefined)) {
    throw new UsageError('give exactly one of --template <text> or --template-file <path>');
  }
  if (o.template !== undefined) return o.template;
  const file = o.templateFile ?? '-';
  try {
    return fs.readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read template file ${file}: ${(e as Error).message}`);
  }
}

/** A metrics file (a path, or `-` for stdin): `{ "events": [...] }`, or a bare array of events. */
export function readEvents(file: string): { events: unknown[] } {
  let raw: string;
  try {
    raw = fs.readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read metrics file ${file}: ${(e as Error).message}`);
  }
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch (e) {
    throw new UsageError(`metrics file ${file} is not valid JSON: ${(e as Error).message}`);
  }
  if (Array.isArray(v)) return { events: v };
  const events = typeof v === 'object' && v !== null ? (v as { events?: unknown }).events : undefined;
  if (!Array.isArray(events)) throw new UsageError(`metrics file ${file} must hold {"events": [...]} (or a JSON array of events)`);
  return { events };
}
