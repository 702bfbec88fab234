/** Prompts and their versions: list, show, register, add a version, and which version a request key gets. */
import type { Command } from 'commander';
import { run, type Io } from '../context';
import { cell, fields, table, when } from '../format';
import { jsonObject, list, readTemplate } from '../input';

export function registerPrompts(program: Command, io: Io): void {
  const prompts = program.command('prompts').description('list, show and register prompts');
  prompts
    .command('list')
    .description('all prompts with their active version and any open rollback')
    .action((_o, cmd: Command) =>
      run(io, cmd, async (c) => {
        const data = await c.api.listPrompts();
        c.emit(data, () =>
          c.print(
            data.prompts.length === 0
              ? 'no prompts'
              : table(
                  ['PROMPT', 'ACTIVE', 'MONITORED', 'OPEN ROLLBACK'],
                  data.prompts.map((p) => [p.name, p.active_version, p.monitored ? 'yes' : 'no', p.open_rollback_id]),
                ),
          ),
        );
      }),
    );
  prompts
    .command('show')
    .description('a prompt: traffic, versions, related prompts')
    .argument('<prompt>')
    .action((prompt: string, _o, cmd: Command) =>
      run(
        io,
        cmd,
        async (c) => {
          const p = await c.api.getPrompt(prompt);
          c.emit(p, () => {
            c.print(
              fields([
                ['prompt', p.name],
                ['description', p.description],
                ['owner', p.owner],
                ['active', cell(p.active_version)],
                ['traffic', p.traffic.map((t) => `${t.version} ${t.percent}%`).join(', ')],
                ['related', p.related.join(', ')],
                ['open rollback', p.open_rollback_id],
              ]),
            );
            if (p.versions.length > 0) {
              const rows = p.versions.map((v) => [
                `${v.version === p.active_version ? '*' : ' '} ${v.version}`,
                v.state,
                v.known_good ? 'yes' : 'no',
                when(v.created_at),
                when(v.deployed_at),
              ]);
              c.print(`\n${table(['  VERSION', 'STATE', 'KNOWN GOOD', 'CREATED', 'DEPLOYED'], rows)}`);
            }
          });
        },
        { prompt },
      ),
    );
  prompts
    .command('put')
    .description('create or update a prompt')
    .argument('<prompt>')
    .option('--description <text>', 'what the prompt is for')
    .option('--owner <owner>', 'owning team or person')
    .option('--related <prompts>', 'comma-separated related prompts', list)
    .action((prompt: string, o: { description?: string; owner?: string; related?: string[] }, cmd: Command) =>
      run(io, cmd, async (c) => {
        const p = await c.api.putPrompt(prompt, o);
        c.emit(p, () => c.print(`prompt ${prompt} saved (active version ${cell(p.active_version)})`));
      }),
    );

  program
    .command('versions')
    .description('prompt versions')
    .command('add')
    .description('register a new version of a prompt')
    .argument('<prompt>')
    .argument('<version>')
    .option('--template <text>', 'the template text')
    .option('--template-file <path>', 'read the template from a file (- for stdin)')
    .option('--metadata <json>', 'a JSON object stored with the version', jsonObject)
    .action(
      (
        prompt: string,
        version: string,
        o: { template?: string; templateFile?: string; metadata?: Record<string, unknown> },
        cmd: Command,
      ) =>
        run(
          io,
          cmd,
          async (c) => {
            const body = { version, template: readTemplate(o), ...(o.metadata ? { metadata: o.metadata } : {}) };
            const v = await c.api.addVersion(prompt, body);
            c.emit(v, () => c.print(`added ${prompt} ${version}`));
          },
          { prompt },
        ),
    );

  program
    .command('resolve')
    .description('which version (and template) serves a request key now')
    .argument('<prompt>')
    .requiredOption('--key <key>', 'request key (traffic splits hash it)')
    .action((prompt: string, o: { key: string }, cmd: Command) =>
      run(
        io,
        cmd,
        async (c) => {
          const r = await c.api.resolve(prompt, o.key);
          c.emit(r, () => c.print(`version ${r.version}\n\n${r.template}`));
        },
        { prompt },
      ),
    );
}
