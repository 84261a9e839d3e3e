// The command bot's pure half: which commands exist, how a message's text parses into one,
// which of them change the stack (those ask for a confirmation first), what that confirmation
// says, and the compact monospace tables every reply is made of. No I/O here: the bot
// (commandBot.ts) does the Telegram calls and the operator surface (operator.ts) the acting.
import { STAGES } from '../../lifecycle/strategyRegistry.js';
import type { ModelStage } from '../../lifecycle/modelStage.js';

export const COMMANDS = {
  status: { args: '', help: 'trading state, equity, exposure, engines' },
  balance: { args: '', help: 'equity, cash and PnL per venue' },
  profit: { args: '[days]', help: 'realized PnL, fees and trades (all time, or the last N days)' },
  daily: { args: '[days]', help: 'PnL per UTC day (default 7)' },
  positions: { args: '', help: 'open positions by model' },
  leaderboard: { args: '', help: 'models ranked by evidence' },
  pause: { args: '[reason]', help: 'pause trading everywhere (asks to confirm)' },
  resume: { args: '[reason]', help: 'resume trading (asks to confirm)' },
  weights: { args: '[model=w ...]', help: 'show weights; with values, set them (asks to confirm)' },
  promote: { args: '<model> [stage]', help: 'move a model up a stage, or to one (asks to confirm)' },
  rollback: { args: '[model]', help: 'put back the model a live one replaced (asks to confirm)' },
  forceexit: { args: '<model> <symbol>', help: 'sell a model\'s position at market (asks to confirm)' },
  help: { args: '', help: 'this list' },
} as const;

export type CommandName = keyof typeof COMMANDS;
export const COMMAND_NAMES = Object.keys(COMMANDS) as CommandName[];

const MODEL_ID = /^[A-Za-z0-9._-]{1,64}$/;
const SYMBOL = /^[A-Za-z0-9]{2,20}$/;

export interface ParsedCommand {
  readonly name: CommandName;
  readonly args: readonly string[];
}

/** A change the operator is asked to confirm, then carried out exactly as confirmed. */
export type PlannedAction =
  | { readonly kind: 'pause'; readonly reason: string }
  | { readonly kind: 'resume'; readonly reason: string }
  | { readonly kind: 'weights'; readonly weights: Readonly<Record<string, number>> }
  | { readonly kind: 'promote'; readonly model: string; readonly stage: ModelStage | null }
  | { readonly kind: 'rollback'; readonly model: string | null }
  | { readonly kind: 'forceexit'; readonly model: string; readonly symbol: string };

/** What a command asks for: a read, a change to confirm, or a refusal naming what is valid. */
export type CommandPlan =
  | { readonly type: 'read'; readonly name: CommandName; readonly days: number | null }
  | { readonly type: 'confirm'; readonly action: PlannedAction; readonly question: string }
  | { readonly type: 'refuse'; readonly message: string };

/**
 * `/name args…` (also `/name@botname`) → a command; null when the text is not a command at
 * all (ordinary chat is not answered). An unknown command is a refusal that lists the known ones.
 */
export function parseCommand(text: string): ParsedCommand | { readonly unknown: string } | null {
  const trimmed = text.trim();
  if (!trimmed.startsWith('/')) return null;
  const [head = '', ...args] = trimmed.split(/\s+/);
  const name = head.slice(1).split('@')[0]!.toLowerCase();
  if (!(name in COMMANDS)) return { unknown: name.slice(0, 32) };
  return { name: name as CommandName, args };
}

function usage(name: CommandName): string {
  const c = COMMANDS[name];
  return `/${name}${c.args ? ` ${c.args}` : ''}`;
}

function days(arg: string | undefined, name: CommandName, max: number): number | string {
  if (arg === undefined) return 0;
  if (!/^[0-9]{1,4}$/.test(arg) || Number(arg) < 1 || Number(arg) > max) return `${usage(name)}: days must be a whole number from 1 to ${max}, got "${arg.slice(0, 20)}"`;
  return Number(arg);
}

/** Decides what a parsed command asks for (pure: validation of the form, not of the stack). */
export function planCommand(cmd: ParsedCommand): CommandPlan {
  const { name, args } = cmd;
  const refuse = (message: string): CommandPlan => ({ type: 'refuse', message });
  const tooMany = (n: number) => (args.length > n ? refuse(`${usage(name)}: expected at most ${n} argument${n === 1 ? '' : 's'}`) : null);
  switch (name) {
    case 'status': case 'balance': case 'positions': case 'leaderboard': case 'help':
      return tooMany(0) ?? { type: 'read', name, days: null };
    case 'profit': case 'daily': {
      const d = days(args[0], name, name === 'daily' ? 60 : 3650);
      if (typeof d === 'string') return refuse(d);
      return tooMany(1) ?? { type: 'read', name, days: d === 0 ? (name === 'daily' ? 7 : null) : d };
    }
    case 'pause': case 'resume': {
      const reason = args.join(' ').slice(0, 200) || `${name} via Telegram`;
      return {
        type: 'confirm', action: { kind: name, reason },
        question: name === 'pause'
          ? `Pause trading on every engine (global HALTED: no new order anywhere; open orders stay)?\nReason: ${reason}`
          : `Resume trading (lift the global HALTED; a REDUCING grade stays as it is)?\nReason: ${reason}`,
      };
    }
    case 'weights': {
      if (args.length === 0) return { type: 'read', name, days: null };
      const weights: Record<string, number> = {};
      for (const a of args) {
        const m = /^([A-Za-z0-9._-]{1,64})=([0-9]*\.?[0-9]+)$/.exec(a);
        if (!m) return refuse(`${usage(name)}: each value must be model=weight with a weight in [0, 1], got "${a.slice(0, 40)}"`);
        const w = Number(m[2]);
        if (!(w >= 0 && w <= 1)) return refuse(`${usage(name)}: weight of ${m[1]} must be within [0, 1], got ${m[2]}`);
        weights[m[1]!] = w;
      }
      return { type: 'confirm', action: { kind: 'weights', weights }, question: `Set weights: ${Object.entries(weights).map(([m, w]) => `${m} → ${w}`).join(', ')} (other models keep theirs)?` };
    }
    case 'promote': {
      const [model, stage] = args;
      if (model === undefined || !MODEL_ID.test(model)) return refuse(`${usage(name)}: name a registered model (see /leaderboard)`);
      if (stage !== undefined && !(STAGES as readonly string[]).includes(stage)) return refuse(`${usage(name)}: stage must be one of ${STAGES.join(', ')}, got "${stage.slice(0, 20)}"`);
      return tooMany(2) ?? {
        type: 'confirm', action: { kind: 'promote', model, stage: (stage ?? null) as ModelStage | null },
        question: `Move ${model} to ${stage ?? 'the next stage up (shadow → canary → live)'}? Promoting to live demotes the current live model to shadow.`,
      };
    }
    case 'rollback': {
      const [model] = args;
      if (model !== undefined && !MODEL_ID.test(model)) return refuse(`${usage(name)}: "${model.slice(0, 40)}" is not a model id`);
      return tooMany(1) ?? {
        type: 'confirm', action: { kind: 'rollback', model: model ?? null },
        question: `Roll back ${model ?? 'the live model'}: it goes to shadow (its position sold) and the model it replaced is live again?`,
      };
    }
    case 'forceexit': {
      const [model, sym] = args;
      if (model === undefined || sym === undefined || !MODEL_ID.test(model) || !SYMBOL.test(sym)) return refuse(`${usage(name)}: name the model and the symbol (see /positions)`);
      return tooMany(2) ?? {
        type: 'confirm', action: { kind: 'forceexit', model, symbol: sym.toUpperCase() },
        question: `Sell ${model}'s whole ${sym.toUpperCase()} position at market, through the risk rails?`,
      };
    }
  }
}

export function helpText(): string {
  const rows = COMMAND_NAMES.map((n) => [usage(n), COMMANDS[n].help]);
  return `hmm-stack commands\n${table(['command', 'what'], rows)}`;
}

/** Escapes text for Telegram's HTML parse mode (the only three characters it reserves). */
export const escapeHtml = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** A compact monospace table (columns padded, numbers right-aligned), for a <pre> block. */
export function table(head: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const cells = [head.map(String), ...rows.map((r) => r.map((c) => (typeof c === 'number' ? fmt(c) : c)))];
  const numeric = head.map((_, i) => rows.length > 0 && rows.every((r) => typeof r[i] === 'number'));
  const widths = head.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: readonly string[]) => r.map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(' ').trimEnd();
  return [line(cells[0]!), ...cells.slice(1).map(line)].join('\n');
}

/** Money and quantities at a glance: two decimals, or significant digits for small values. */
export function fmt(x: number): string {
  if (!Number.isFinite(x)) return '-';
  if (x !== 0 && Math.abs(x) < 1) return x.toPrecision(3);
  return x.toFixed(2);
}

/** A reply: an optional title line, then a monospace block. */
export function pre(title: string, body: string): string {
  return `<b>${escapeHtml(title)}</b>\n<pre>${escapeHtml(body)}</pre>`;
}
