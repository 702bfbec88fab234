/**
 * `promptback completion bash|zsh`: a completion script generated from the command tree itself, so it never
 * falls behind a new command or option. Commander has no generator of its own; the packages that add one either
 * replace the parser or ask the shell to call back into node on every Tab (a second or so through tsx). A static
 * script answers at once: subcommands, options, and the fixed choices of options like --mode and --status.
 */
import { Argument, type Command, type Option } from 'commander';
import { run, type Io } from '../context';

interface Node {
  /** `rollbacks list`; '' for the program itself. */
  path: string;
  words: { word: string; description: string }[];
}

const visibleOptions = (cmd: Command): Option[] => (cmd.options as Option[]).filter((o) => !o.hidden);

function walk(cmd: Command, prefix: string, extra: { word: string; description: string }[], out: Node[]): void {
  const subs = cmd.commands;
  const words = [
    ...subs.map((c) => ({ word: c.name(), description: c.description() })),
    ...visibleOptions(cmd).map((o) => ({ word: o.long ?? o.short ?? '', description: o.description })),
    // Fixed values of the first argument (`config set url|token`, `completion bash|zsh`).
    ...(cmd.registeredArguments[0]?.argChoices ?? []).map((v) => ({ word: v, description: cmd.registeredArguments[0]!.description })),
    ...extra,
    { word: '--help', description: 'show help' },
  ].filter((w) => w.word !== '');
  out.push({ path: prefix, words });
  for (const c of subs) walk(c, prefix ? `${prefix} ${c.name()}` : c.name(), [], out);
}

/** Every option that takes a value, and the fixed values of those that have them. */
function valueOptions(root: Command): { flags: Set<string>; choices: Map<string, readonly string[]> } {
  const flags = new Set<string>();
  const choices = new Map<string, readonly string[]>();
  const visit = (cmd: Command): void => {
    for (const o of cmd.options as Option[]) {
      if (!(o.required || o.optional)) continue;
      for (const f of [o.long, o.short]) if (f) flags.add(f);
      if (o.argChoices && o.long) choices.set(o.long, o.argChoices);
    }
    cmd.commands.forEach(visit);
  };
  visit(root);
  return { flags, choices };
}

const shq = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

export function bashScript(root: Command): string {
  const nodes: Node[] = [];
  walk(root, '', [{ word: '--version', description: 'print the version' }], nodes);
  const { flags, choices } = valueOptions(root);
  const name = root.name();
  const fn = `_${name.replace(/[^A-Za-z0-9_]/g, '_')}`;
  return [
    `# bash completion for ${name}; load with: source <(${name} completion bash)`,
    `${fn}() {`,
    '  local cur prev cmdpath="" i w',
    '  cur="${COMP_WORDS[COMP_CWORD]}"',
    '  prev="${COMP_WORDS[COMP_CWORD-1]}"',
    '  case "$prev" in',
    ...[...choices].map(([f, cs]) => `    ${f}) COMPREPLY=($(compgen -W ${shq(cs.join(' '))} -- "$cur")); return ;;`),
    `    ${[...flags].join('|')}) return ;;`,
    '  esac',
    '  for ((i = 1; i < COMP_CWORD; i++)); do',
    '    w="${COMP_WORDS[i]}"',
    '    case "$w" in',
    `      ${[...flags].join('|')}) ((i++)); continue ;;`,
    '      -*) continue ;;',
    '    esac',
    '    case "${cmdpath:+$cmdpath }$w" in',
    `      ${nodes
      .filter((n) => n.path !== '')
      .map((n) => shq(n.path))
      .join('|')}) cmdpath="\${cmdpath:+$cmdpath }$w" ;;`,
    '    esac',
    '  done',
    '  case "$cmdpath" in',
    ...nodes.map((n) => `    ${shq(n.path)}) COMPREPLY=($(compgen -W ${shq(n.words.map((w) => w.word).join(' '))} -- "$cur")) ;;`),
    '  esac',
    '}',
    `complete -F ${fn} ${name}`,
    '',
  ].join('\n');
}

export function zshScript(root: Command): string {
  const nodes: Node[] = [];
  walk(root, '', [{ word: '--version', description: 'print the version' }], nodes);
  const { flags, choices } = valueOptions(root);
  const name = root.name();
  const fn = `_${name.replace(/[^A-Za-z0-9_]/g, '_')}`;
  // zsh's _describe splits "word:description" at the first unescaped colon.
  const entry = (w: { word: string; description: string }): string => shq(`${w.word.replace(/:/g, '\\:')}:${w.description}`);
  return [
    `#compdef ${name}`,
    `# zsh completion for ${name}; load with: source <(${name} completion zsh)  (after compinit)`,
    `${fn}() {`,
    '  local cmdpath="" i w',
    '  local -a entries',
    '  case "${words[CURRENT-1]}" in',
    ...[...choices].map(([f, cs]) => `    ${f}) compadd -- ${cs.map(shq).join(' ')}; return ;;`),
    `    ${[...flags].join('|')}) _default; return ;;`,
    '  esac',
    '  for ((i = 2; i < CURRENT; i++)); do',
    '    w="${words[i]}"',
    '    case "$w" in',
    `      ${[...flags].join('|')}) ((i++)); continue ;;`,
    '      -*) continue ;;',
    '    esac',
    '    case "${cmdpath:+$cmdpath }$w" in',
    `      ${nodes
      .filter((n) => n.path !== '')
      .map((n) => shq(n.path))
      .join('|')}) cmdpath="\${cmdpath:+$cmdpath }$w" ;;`,
    '    esac',
    '  done',
    '  case "$cmdpath" in',
    ...nodes.map((n) => `    ${shq(n.path)}) entries=(${n.words.map(entry).join(' ')}) ;;`),
    '  esac',
    `  _describe -t commands ${shq(name)} entries`,
    '}',
    `compdef ${fn} ${name}`,
    '',
  ].join('\n');
}

export function registerCompletion(program: Command, io: Io): void {
  program
    .command('completion')
    .description('print a shell completion script: source <(promptback completion bash)')
    .addArgument(new Argument('<shell>', 'which shell').choices(['bash', 'zsh']))
    .action((shell: 'bash' | 'zsh', _o, cmd: Command) =>
      run(io, cmd, (c) => {
        const script = shell === 'bash' ? bashScript(program) : zshScript(program);
        c.emit({ shell, script }, () => c.write(script));
      }),
    );
}
