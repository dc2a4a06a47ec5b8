// The `print fmt:` line of a format file: its format string and argument expressions, enough of C
// to evaluate the arguments whose printed text the text decoders read (names from
// __print_symbolic, letters from __print_flags, ternaries over REC-> fields), so a binary record
// gives the same columns as its text. Statement expressions (`({ ... })`) and helpers other than
// those two are not evaluated: such an argument yields nothing.

export type Value = bigint | string;
/** A field of the record by name, as the kernel's REC-> sees it (sign-extended integers, strings). */
export type FieldValue = (name: string) => Value | undefined;

type Expr =
  | { k: 'num'; v: bigint }
  | { k: 'str'; v: string }
  | { k: 'rec'; name: string }
  | { k: 'un'; op: string; a: Expr }
  | { k: 'bin'; op: string; a: Expr; b: Expr }
  | { k: 'cond'; c: Expr; a: Expr; b: Expr }
  | { k: 'symbolic'; a: Expr; table: [Expr, string][] }
  | { k: 'flags'; a: Expr; delim: string; table: [Expr, string][] };

const TOKEN_RE = /\s*(?:(0[xX][0-9a-fA-F]+|\d+)[uUlL]*|("(?:[^"\\]|\\.)*")|(REC->\w+)|([A-Za-z_]\w*)|(<<|>>|==|!=|<=|>=|&&|\|\||[-+*/%&|^~!?:(),{}<>]))/y;

class Parser {
  private readonly toks: string[] = [];
  private i = 0;

  constructor(src: string) {
    let pos = 0;
    while (pos < src.length) {
      TOKEN_RE.lastIndex = pos;
      const m = TOKEN_RE.exec(src);
      if (m === null) {
        if (src.slice(pos).trim() === '') break;
        throw new SyntaxError(`unexpected text at ${pos}`);
      }
      this.toks.push(m[1] !== undefined ? `#${m[1]}` : m[0].trim());
      pos = TOKEN_RE.lastIndex;
    }
  }

  private peek(o = 0): string | undefined {
    return this.toks[this.i + o];
  }

  private take(t?: string): string {
    const v = this.toks[this.i];
    if (v === undefined || (t !== undefined && v !== t)) throw new SyntaxError(`expected ${t ?? 'a token'}, found ${v ?? 'the end'}`);
    this.i++;
    return v;
  }

  get done(): boolean {
    return this.i >= this.toks.length;
  }

  expr(): Expr {
    const c = this.binary(0);
    if (this.peek() !== '?') return c;
    this.take('?');
    const a = this.expr();
    this.take(':');
    return { k: 'cond', c, a, b: this.expr() };
  }

  private static readonly LEVELS: readonly (readonly string[])[] = [
    ['||'], ['&&'], ['|'], ['^'], ['&'], ['==', '!='], ['<', '>', '<=', '>='], ['<<', '>>'], ['+', '-'], ['*', '/', '%'],
  ];

  private binary(level: number): Expr {
    if (level >= Parser.LEVELS.length) return this.unary();
    let a = this.binary(level + 1);
    while (Parser.LEVELS[level]!.includes(this.peek() ?? '')) {
      const op = this.take();
      a = { k: 'bin', op, a, b: this.binary(level + 1) };
    }
    return a;
  }

  private unary(): Expr {
    const t = this.peek();
    if (t === '!' || t === '~' || t === '-' || t === '+') {
      this.take();
      return { k: 'un', op: t, a: this.unary() };
    }
    if (t === '(' && this.isCast()) {
      while (this.take() !== ')');
      return this.unary();
    }
    return this.primary();
  }

  /** `(unsigned long)`, `(void *)`: identifiers and stars only, and not a parenthesised name. */
  private isCast(): boolean {
    let j = 1;
    let words = 0;
    for (;;) {
      const t = this.peek(j);
      if (t === undefined) return false;
      if (t === ')') break;
      if (t === '*') j++;
      else if (/^[A-Za-z_]\w*$/.test(t)) {
        words++;
        j++;
      } else return false;
    }
    return words > 0;
  }

  private table(): [Expr, string][] {
    const out: [Expr, string][] = [];
    while (this.peek() === ',') {
      this.take(',');
      this.take('{');
      const v = this.expr();
      this.take(',');
      const s = this.strings();
      this.take('}');
      out.push([v, s]);
    }
    return out;
  }

  private strings(): string {
    let s = '';
    while (this.peek()?.startsWith('"')) s += unquote(this.take());
    return s;
  }

  private primary(): Expr {
    const t = this.take();
    if (t.startsWith('#')) return { k: 'num', v: BigInt(t.slice(1)) };
    if (t.startsWith('"')) {
      this.i--;
      return { k: 'str', v: this.strings() };
    }
    if (t.startsWith('REC->')) return { k: 'rec', name: t.slice(5) };
    if (t === '(') {
      const e = this.expr();
      this.take(')');
      return e;
    }
    if (t === '__print_symbolic' || t === '__print_flags') {
      this.take('(');
      const a = this.expr();
      let delim = '';
      if (t === '__print_flags') {
        this.take(',');
        delim = this.strings();
      }
      const table = this.table();
      this.take(')');
      return t === '__print_symbolic' ? { k: 'symbolic', a, table } : { k: 'flags', a, delim, table };
    }
    throw new SyntaxError(`unsupported ${t}`);
  }
}

function unquote(lit: string): string {
  return lit.slice(1, -1).replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c === 't' ? '\t' : c));
}

const u64 = (v: bigint): bigint => BigInt.asUintN(64, v);
const truthy = (v: Value): boolean => (typeof v === 'string' ? true : v !== 0n);
const num = (v: Value): bigint => (typeof v === 'string' ? 1n : v);

function evaluate(e: Expr, rec: FieldValue): Value | undefined {
  switch (e.k) {
    case 'num': return e.v;
    case 'str': return e.v;
    case 'rec': return rec(e.name);
    case 'un': {
      const a = evaluate(e.a, rec);
      if (a === undefined) return undefined;
      if (e.op === '!') return truthy(a) ? 0n : 1n;
      if (e.op === '~') return ~num(a);
      return e.op === '-' ? -num(a) : num(a);
    }
    case 'cond': {
      const c = evaluate(e.c, rec);
      return c === undefined ? undefined : evaluate(truthy(c) ? e.a : e.b, rec);
    }
    case 'bin': return binary(e.op, e.a, e.b, rec);
    case 'symbolic': {
      const a = evaluate(e.a, rec);
      if (a === undefined) return undefined;
      // trace_print_symbols_seq: the first entry equal to the value, else the value in hex
      for (const [v, s] of e.table) {
        const x = evaluate(v, rec);
        if (x !== undefined && u64(num(x)) === u64(num(a))) return s;
      }
      return `0x${u64(num(a)).toString(16)}`;
    }
    case 'flags': {
      const a = evaluate(e.a, rec);
      if (a === undefined) return undefined;
      // trace_print_flags_seq: every entry whose mask is all set, in order, then what is left in hex
      let flags = u64(num(a));
      const out: string[] = [];
      for (const [v, s] of e.table) {
        const m = evaluate(v, rec);
        if (m === undefined) return undefined;
        const mask = u64(num(m));
        if (mask === 0n || (flags & mask) !== mask) continue;
        out.push(s);
        flags &= ~mask;
      }
      if (flags !== 0n) out.push(`0x${flags.toString(16)}`);
      return out.join(e.delim);
    }
  }
}

function binary(op: string, ea: Expr, eb: Expr, rec: FieldValue): Value | undefined {
  const a = evaluate(ea, rec);
  if (a === undefined) return undefined;
  if (op === '&&' && !truthy(a)) return 0n;
  if (op === '||' && truthy(a)) return 1n;
  const b = evaluate(eb, rec);
  if (b === undefined) return undefined;
  const x = num(a);
  const y = num(b);
  switch (op) {
    case '&&': case '||': return truthy(b) ? 1n : 0n;
    case '|': return x | y;
    case '^': return x ^ y;
    case '&': return x & y;
    case '==': return x === y ? 1n : 0n;
    case '!=': return x !== y ? 1n : 0n;
    case '<': return x < y ? 1n : 0n;
    case '>': return x > y ? 1n : 0n;
    case '<=': return x <= y ? 1n : 0n;
    case '>=': return x >= y ? 1n : 0n;
    case '<<': return x << y;
    case '>>': return x >> y;
    case '+': return x + y;
    case '-': return x - y;
    case '*': return x * y;
    case '/': return y === 0n ? undefined : x / y;
    case '%': return y === 0n ? undefined : x % y;
  }
  return undefined;
}

/** One conversion of the format string (`%llx`, `%s`, `%ps`, ...), at its index in the text. */
const CONVERSION_RE = /%(%|[-+ #0]*\d*(?:\.\d+)?(?:hh|h|ll|l|z|L)?[diouxXcs]|[-+ #0]*\d*p[a-zA-Z]*)/g;

export interface PrintArg {
  /** Evaluates the argument on a record; undefined when it cannot be (or uses a missing field). */
  value(rec: FieldValue): Value | undefined;
  /** The REC-> fields it reads. */
  readonly fields: readonly string[];
}

function fieldsOf(e: Expr, out: Set<string>): Set<string> {
  if (e.k === 'rec') out.add(e.name);
  else if (e.k === 'un') fieldsOf(e.a, out);
  else if (e.k === 'bin') [e.a, e.b].forEach((x) => fieldsOf(x, out));
  else if (e.k === 'cond') [e.c, e.a, e.b].forEach((x) => fieldsOf(x, out));
  else if (e.k === 'symbolic' || e.k === 'flags') [e.a, ...e.table.map((t) => t[0])].forEach((x) => fieldsOf(x, out));
  return out;
}

export class PrintFmt {
  readonly fmt: string;
  private readonly args: (Expr | null)[];
  /** Start index in `fmt` of each conversion that takes an argument. */
  private readonly conversions: { at: number; end: number }[] = [];

  constructor(text: string) {
    const { fmt, args } = splitPrintFmt(text);
    this.fmt = fmt;
    this.args = args.map((a) => {
      try {
        const p = new Parser(a);
        const e = p.expr();
        return p.done ? e : null;
      } catch {
        return null;
      }
    });
    for (const m of fmt.matchAll(CONVERSION_RE)) {
      if (m[1] !== '%') this.conversions.push({ at: m.index, end: m.index + m[0].length });
    }
  }

  /**
   * The arguments of the run of conversions right after `label` in the format string (e.g. the
   * `%s%s%s` of `reason %s%s%s rip`), or null when the label is not there or one of them cannot be evaluated.
   */
  argsAfter(label: string): PrintArg[] | null {
    const at = this.fmt.indexOf(label);
    if (at < 0) return null;
    let k = this.conversions.findIndex((c) => c.at === at + label.length);
    if (k < 0) return null;
    const out: PrintArg[] = [];
    for (let pos = at + label.length; k < this.conversions.length && this.conversions[k]!.at === pos; k++) {
      const e = this.args[k];
      if (!e) return null;
      out.push({ value: (rec) => evaluate(e, rec), fields: [...fieldsOf(e, new Set())] });
      pos = this.conversions[k]!.end;
    }
    return out;
  }
}

/** `"fmt", arg, arg` → the format string and the argument texts, split at top-level commas. */
function splitPrintFmt(text: string): { fmt: string; args: string[] } {
  let i = 0;
  let fmt = '';
  const s = text.trim();
  // adjacent string literals make one format string
  for (;;) {
    while (s[i] === ' ') i++;
    if (s[i] !== '"') break;
    let j = i + 1;
    while (j < s.length && s[j] !== '"') j += s[j] === '\\' ? 2 : 1;
    fmt += unquote(s.slice(i, j + 1));
    i = j + 1;
  }
  const args: string[] = [];
  let depth = 0;
  let start = -1;
  let inStr = false;
  for (; i < s.length; i++) {
    const ch = s[i]!;
    if (inStr) {
      if (ch === '\\') i++;
      else if (ch === '"') inStr = false;
      continue;
    }
    if (ch === '"') inStr = true;
    else if (ch === '(' || ch === '{' || ch === '[') depth++;
    else if (ch === ')' || ch === '}' || ch === ']') depth--;
    else if (ch === ',' && depth === 0) {
      if (start >= 0) args.push(s.slice(start, i).trim());
      start = i + 1;
    }
  }
  if (start >= 0) args.push(s.slice(start).trim());
  return { fmt, args };
}
