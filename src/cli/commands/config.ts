/** `promptback config`: the API URL and token kept in a file, so that neither has to be typed or exported. */
import { Argument, type Command } from 'commander';
import { run, type Io } from '../context';
import { checkUrl, configFile, readSettings, resolveSettings, SETTING_KEYS, writeSettings, type SettingKey } from '../settings';

export function registerConfig(program: Command, io: Io): void {
  const config = program
    .command('config')
    .description('the API URL and token the CLI uses (flag > PROMPTBACK_URL/PROMPTBACK_TOKEN > config file > default)');
  const key = () => new Argument('<key>', 'which setting').choices(SETTING_KEYS);

  config
    .command('set')
    .description('save a setting in the config file (the file is readable by you only)')
    .addArgument(key())
    .argument('<value>')
    .action((k: SettingKey, raw: string, _o, cmd: Command) =>
      run(io, cmd, (c) => {
        const file = configFile();
        const value = k === 'url' ? checkUrl(raw) : raw;
        writeSettings(file, { ...readSettings(file), [k]: value });
        // A token is never echoed back, not even in part.
        c.emit({ file, key: k, ...(k === 'url' ? { value } : {}) }, () =>
          c.print(k === 'url' ? `url set to ${value} in ${file}` : `token saved in ${file}`),
        );
      }),
    );
  config
    .command('unset')
    .description('remove a setting from the config file')
    .addArgument(key())
    .action((k: SettingKey, _o, cmd: Command) =>
      run(io, cmd, (c) => {
        const file = configFile();
        const { [k]: _gone, ...rest } = readSettings(file);
        writeSettings(file, rest);
        c.emit({ file, key: k }, () => c.print(`${k} removed from ${file}`));
      }),
    );
  config
    .command('show')
    .description('the URL and whether a token is set, with where each comes from (never the token itself)')
    .action((_o, cmd: Command) =>
      run(io, cmd, (c) => {
        const s = resolveSettings(cmd.optsWithGlobals<{ url?: string; token?: string }>());
        const from = { flag: 'from --url/--token', env: 'from the environment', file: `from ${s.file}`, default: 'default' };
        const data = {
          file: s.file,
          url: s.url,
          url_source: s.urlSource,
          token_set: s.token !== undefined,
          token_source: s.tokenSource ?? null,
        };
        c.emit(data, () => {
          c.print(`url    ${s.url} (${from[s.urlSource]})`);
          c.print(`token  ${s.tokenSource ? `set (${from[s.tokenSource]})` : 'not set'}`);
          c.print(`file   ${s.file}`);
        });
      }),
    );
}
