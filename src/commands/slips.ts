/**
 * Common command-line slips, caught before commander parses so that the message says what was
 * probably meant: a bare `section.key=value` (the --set forgotten), and an option that belongs
 * to another command (`vae train --n 64`).
 */
import type { Command, Option } from 'commander';
import { VaeError } from '../errors.js';

const SETTING = /^(model|data|train)\.[A-Za-z]\w*=/;

function findOption(cmd: Command, flag: string): Option | undefined {
  return cmd.options.find((o) => o.long === flag || o.short === flag);
}

/** Throw a VaeError for a recognised slip in `argv` (the arguments after `vae`); else do nothing. */
export function checkSlips(program: Command, argv: readonly string[]): void {
  const cmd = program.commands.find((c) => c.name() === argv[0] || c.aliases().includes(argv[0]));
  if (!cmd) return;
  const name = cmd.name();
  const hasSet = Boolean(findOption(cmd, '--set'));
  for (let i = 1; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') return;
    if (SETTING.test(arg)) {
      throw new VaeError(`'${arg}' is a config setting, given without --set`, {
        hint: hasSet ? `did you mean --set ${arg}?` : `vae ${name} takes no config settings; they go to vae train --set ${arg}`,
      });
    }
    if (!arg.startsWith('-') || arg === '-' || /^-\d/.test(arg)) continue;
    const flag = arg.split('=')[0];
    if (flag === '--help' || flag === '-h') return;
    const own = findOption(cmd, flag);
    if (own) {
      if ((own.required || own.optional) && !arg.includes('=') && !(own.optional && argv[i + 1]?.startsWith('-'))) i++; // skip its value
      continue;
    }
    const elsewhere = program.commands.filter((c) => c !== cmd && findOption(c, flag)).map((c) => `vae ${c.name()}`);
    if (elsewhere.length) {
      const list = elsewhere.length === 1 ? elsewhere[0] : `${elsewhere.slice(0, -1).join(', ')} and ${elsewhere[elsewhere.length - 1]}`;
      const value = !arg.includes('=') && argv[i + 1] !== undefined && !argv[i + 1].startsWith('-') ? ` ${argv[i + 1]}` : '';
      throw new VaeError(`vae ${name} has no option ${flag}; it is an option of ${list}`, {
        hint: elsewhere.length === 1 ? `did you mean ${elsewhere[0]} ${arg}${value}?` : `see vae ${name} --help for its options`,
      });
    }
  }
}
