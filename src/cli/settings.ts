/**
 * Where the CLI finds the API and its token: the `--url`/`--token` flags, else PROMPTBACK_URL/PROMPTBACK_TOKEN,
 * else the config file `promptback config set` writes (~/.config/promptback/config.json, or under
 * $XDG_CONFIG_HOME; PROMPTBACK_CONFIG names another file), else http://localhost:8000 and no token.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const DEFAULT_URL = 'http://localhost:8000';

export const SETTING_KEYS = ['url', 'token'] as const;
export type SettingKey = (typeof SETTING_KEYS)[number];
export type FileSettings = Partial<Record<SettingKey, string>>;
export type Source = 'flag' | 'env' | 'file' | 'default';

export interface Resolved {
  url: string;
  urlSource: Source;
  token: string | undefined;
  tokenSource: Source | undefined;
  file: string;
}

/** Bad settings (an unreadable config file, a value that is not a URL); the message names what to fix. */
export class SettingsError extends Error {}

export type Env = Record<string, string | undefined>;

export function configFile(env: Env = process.env): string {
  if (env.PROMPTBACK_CONFIG) return env.PROMPTBACK_CONFIG;
  const base = env.XDG_CONFIG_HOME || path.join(os.homedir(), '.config');
  return path.join(base, 'promptback', 'config.json');
}

export function readSettings(file: string): FileSettings {
  let raw: string;
  try {
    raw = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new SettingsError(`cannot read the config file ${file}: ${(e as Error).message}`);
  }
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch (e) {
    throw new SettingsError(`the config file ${file} is not valid JSON (${(e as Error).message}); fix or delete it`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new SettingsError(`the config file ${file} must hold a JSON object`);
  const out: FileSettings = {};
  for (const k of SETTING_KEYS) {
    const x = (v as Record<string, unknown>)[k];
    if (typeof x === 'string' && x !== '') out[k] = x;
  }
  return out;
}

/** Writes the file readable by its owner only: it may hold a token. */
export function writeSettings(file: string, settings: FileSettings): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  fs.writeFileSync(file, `${JSON.stringify(settings, null, 2)}\n`, { mode: 0o600 });
  fs.chmodSync(file, 0o600);
}

export function checkUrl(raw: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new SettingsError(`url: ${JSON.stringify(raw)} is not a URL (e.g. http://localhost:8000)`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new SettingsError(`url: must be http:// or https://, not ${u.protocol}`);
  return raw.replace(/\/+$/, '');
}

/** Flag > environment > config file > default, for each setting on its own. */
export function resolveSettings(flags: { url?: string; token?: string }, env: Env = process.env): Resolved {
  const file = configFile(env);
  const fromFile = readSettings(file);
  const pick = (flag: string | undefined, envName: string, key: SettingKey): [string, Source] | undefined => {
    if (flag !== undefined && flag !== '') return [flag, 'flag'];
    const e = env[envName];
    if (e !== undefined && e !== '') return [e, 'env'];
    const f = fromFile[key];
    return f !== undefined ? [f, 'file'] : undefined;
  };
  const [url, urlSource] = pick(flags.url, 'PROMPTBACK_URL', 'url') ?? [DEFAULT_URL, 'default'];
  const token = pick(flags.token, 'PROMPTBACK_TOKEN', 'token');
  return { url, urlSource, token: token?.[0], tokenSource: token?.[1], file };
}
