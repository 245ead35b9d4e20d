/**
 * The YAML arkeod prints for `keys list` / `keys show` in text mode: cosmos-sdk `printTextRecords` runs
 * sigs.k8s.io/yaml v1.4.0 `Marshal` on a slice of KeyOutput, i.e. json.Marshal, then goyaml.v2 (a fork of
 * go-yaml v2.4.0) on the decoded value. Only what that path can produce is ported here: a block sequence of
 * block mappings with string values, keys sorted. The scalar style rules (resolve, analyze_scalar,
 * select_scalar_style) and the writers (plain, single-quoted, double-quoted, literal, with go-yaml's folding at
 * 80 columns) follow goyaml.v2 encode.go, resolve.go and emitterc.go line by line, on code points where Go
 * works on UTF-8 bytes. Checked byte for byte against the SDK's own output by test/cli/key-output.test.ts.
 */

const BEST_WIDTH = 80;
const BEST_INDENT = 2;

// ------------------------------------------------------------------------------------------ resolve.go

const RESOLVE_MAP = new Set([
  'y', 'Y', 'yes', 'Yes', 'YES', 'true', 'True', 'TRUE', 'on', 'On', 'ON',
  'n', 'N', 'no', 'No', 'NO', 'false', 'False', 'FALSE', 'off', 'Off', 'OFF',
  '', '~', 'null', 'Null', 'NULL',
  '.nan', '.NaN', '.NAN', '.inf', '.Inf', '.INF', '+.inf', '+.Inf', '+.INF', '-.inf', '-.Inf', '-.INF',
]);
const YAML_STYLE_FLOAT = /^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/;
const BASE60_FLOAT = /^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$/;
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;

function hintOf(c: string | undefined): 'S' | 'D' | 'M' | '.' | undefined {
  if (c === undefined) return 'M'; // "" is null
  if (c === '+' || c === '-') return 'S';
  if (c >= '0' && c <= '9') return 'D';
  if ('yYnNtTfFoO~'.includes(c)) return 'M';
  if (c === '.') return '.';
  return undefined;
}

/** Go strconv.ParseInt(s, 0, 64), then ParseUint(s, 0, 64): does `s` parse as an integer? (`_` already removed.) */
function goParsesAsInt(s: string): boolean {
  const m = /^([+-]?)(0[xX][0-9a-fA-F]+|0[bB][01]+|0[oO][0-7]+|0[0-7]*|[1-9][0-9]*)$/.exec(s);
  if (!m) return false;
  const body = m[2]!;
  const digits = /^0[oO]/.test(body) ? '0o' + body.slice(2) : /^0[0-7]+$/.test(body) ? '0o' + body.slice(1) : body.toLowerCase();
  const v = BigInt(digits);
  if (m[1] === '-') return v <= INT64_MAX + 1n;
  if (v <= INT64_MAX) return true;
  return m[1] === '' && v <= UINT64_MAX; // ParseUint takes no sign
}

/** Go strconv.ParseFloat(s, 64) succeeds (no syntax error, no overflow) for the decimal forms the callers pass. */
function goParsesAsFloat(s: string): boolean {
  if (/^[+-]?(inf|infinity|nan)$/i.test(s)) return !/^[+-]nan$/i.test(s);
  if (!/^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$/.test(s)) return false;
  return Number.isFinite(Number(s));
}

function daysIn(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/** goyaml.v2 parseTimestamp: time.Parse with its four layouts. */
function isTimestamp(s: string): boolean {
  const m = /^(\d{4})-(\d{1,2})-(\d{1,2})(?:([Tt ])(\d{1,2}):(\d{1,2}):(\d{1,2})(\.\d+)?(Z|[+-]\d{2}:\d{2})?)?$/.exec(s);
  if (!m) return false;
  const [, y, mo, d, sep, h, mi, se, , zone] = m; // time.Parse takes 1 or 2 digits for each
  if (Number(mo) < 1 || Number(mo) > 12 || Number(d) < 1 || Number(d) > daysIn(Number(y), Number(mo))) return false;
  if (sep === undefined) return true;
  if (Number(h) > 23 || Number(mi) > 59 || Number(se) > 59) return false;
  // "2006-1-2 15:4:5.999999999" has no zone; the T/t layouts require one.
  return sep === ' ' ? zone === undefined : zone !== undefined && (zone === 'Z' || (Number(zone.slice(1, 3)) <= 23 && Number(zone.slice(4)) <= 59));
}

/** resolve("", s) == !!str && !isBase60Float(s): may `s` be written unquoted? */
function canUsePlain(s: string): boolean {
  const hint = hintOf(s[0]);
  if (hint !== undefined) {
    if (RESOLVE_MAP.has(s)) return false;
    if (hint === '.' && goParsesAsFloat(s)) return false;
    if (hint === 'D' || hint === 'S') {
      if (/^\d{4}-/.test(s) && isTimestamp(s)) return false;
      const plain = s.replace(/_/g, '');
      if (goParsesAsInt(plain)) return false;
      if (YAML_STYLE_FLOAT.test(plain) && goParsesAsFloat(plain)) return false;
      if (/^-?0b[01]+$/.test(plain)) return false;
    }
  }
  return !BASE60_FLOAT.test(s);
}

// ------------------------------------------------------------------------------------------ emitterc.go

const isPrintable = (c: number) => c === 0x0a || (c >= 0x20 && c <= 0x7e) || (c >= 0xa0 && c <= 0xd7ff) || (c >= 0xe000 && c <= 0xfffd && c !== 0xfeff);
const isSpace = (c: number | undefined) => c === 0x20;
const isBlank = (c: number | undefined) => c === 0x20 || c === 0x09;
const isBreak = (c: number | undefined) => c === 0x0d || c === 0x0a || c === 0x85 || c === 0x2028 || c === 0x2029;
const isBlankz = (c: number | undefined) => isBlank(c) || isBreak(c) || c === 0 || c === undefined;

interface Analysis {
  multiline: boolean;
  blockPlainAllowed: boolean;
  singleQuotedAllowed: boolean;
  blockAllowed: boolean;
}

function analyze(v: number[]): Analysis {
  if (v.length === 0) return { multiline: false, blockPlainAllowed: true, singleQuotedAllowed: true, blockAllowed: false };
  let blockIndicators = false;
  let lineBreaks = false;
  let special = false;
  let leadingSpace = false;
  let leadingBreak = false;
  let trailingSpace = false;
  let trailingBreak = false;
  let breakSpace = false;
  let spaceBreak = false;
  let previousSpace = false;
  let previousBreak = false;
  const str = String.fromCodePoint(...v.slice(0, 3));
  if (str === '---' || str === '...') blockIndicators = true;
  let precededByWhitespace = true;
  for (let i = 0; i < v.length; i++) {
    const c = v[i]!;
    const ch = String.fromCodePoint(c);
    const followedByWhitespace = i + 1 >= v.length || isBlank(v[i + 1]);
    if (i === 0) {
      if ('#,[]{}&*!|>\'"%@`'.includes(ch)) blockIndicators = true;
      else if ((ch === '?' || ch === ':' || ch === '-') && followedByWhitespace) blockIndicators = true;
    } else if (ch === ':' && followedByWhitespace) blockIndicators = true;
    else if (ch === '#' && precededByWhitespace) blockIndicators = true;
    if (!isPrintable(c)) special = true;
    if (isSpace(c)) {
      if (i === 0) leadingSpace = true;
      if (i === v.length - 1) trailingSpace = true;
      if (previousBreak) breakSpace = true;
      previousSpace = true;
      previousBreak = false;
    } else if (isBreak(c)) {
      lineBreaks = true;
      if (i === 0) leadingBreak = true;
      if (i === v.length - 1) trailingBreak = true;
      if (previousSpace) spaceBreak = true;
      previousSpace = false;
      previousBreak = true;
    } else {
      previousSpace = false;
      previousBreak = false;
    }
    precededByWhitespace = isBlankz(c);
  }
  const a: Analysis = { multiline: lineBreaks, blockPlainAllowed: true, singleQuotedAllowed: true, blockAllowed: true };
  if (leadingSpace || leadingBreak || trailingSpace || trailingBreak) a.blockPlainAllowed = false;
  if (trailingSpace) a.blockAllowed = false;
  if (breakSpace) a.blockPlainAllowed = a.singleQuotedAllowed = false;
  if (spaceBreak || special) a.blockPlainAllowed = a.singleQuotedAllowed = a.blockAllowed = false;
  if (lineBreaks || blockIndicators) a.blockPlainAllowed = false;
  return a;
}

/** The emitter's output state for one scalar written as a block mapping value (simple key, flow level 0). */
class Writer {
  out = '';
  whitespace = false;
  indention = false;
  constructor(
    public column: number,
    private readonly indent: number,
  ) {}
  put(s: string): void {
    this.out += s;
    this.column++;
  }
  putBreak(): void {
    this.out += '\n';
    this.column = 0;
  }
  writeBreak(c: number): void {
    if (c === 0x0a) this.putBreak();
    else {
      this.out += String.fromCodePoint(c);
      this.column = 0;
    }
  }
  writeIndent(): void {
    if (!this.indention || this.column > this.indent || (this.column === this.indent && !this.whitespace)) this.putBreak();
    while (this.column < this.indent) this.put(' ');
    this.whitespace = this.indention = true;
  }
  indicator(s: string, needWhitespace: boolean): void {
    if (needWhitespace && !this.whitespace) this.put(' ');
    for (const ch of s) this.put(ch);
    this.whitespace = false;
    this.indention = false;
  }
}

function writePlain(w: Writer, v: number[]): void {
  if (!w.whitespace) w.put(' ');
  let spaces = false;
  let breaks = false;
  for (let i = 0; i < v.length; i++) {
    const c = v[i]!;
    if (isSpace(c)) {
      if (!spaces && w.column > BEST_WIDTH && !isSpace(v[i + 1])) w.writeIndent();
      else w.put(' ');
      spaces = true;
    } else if (isBreak(c)) {
      if (!breaks && c === 0x0a) w.putBreak();
      w.writeBreak(c);
      w.indention = true;
      breaks = true;
    } else {
      if (breaks) w.writeIndent();
      w.put(String.fromCodePoint(c));
      w.indention = spaces = breaks = false;
    }
  }
}

function writeSingle(w: Writer, v: number[]): void {
  w.indicator("'", true);
  let spaces = false;
  let breaks = false;
  for (let i = 0; i < v.length; i++) {
    const c = v[i]!;
    if (isSpace(c)) {
      if (!spaces && w.column > BEST_WIDTH && i > 0 && i < v.length - 1 && !isSpace(v[i + 1])) w.writeIndent();
      else w.put(' ');
      spaces = true;
    } else if (isBreak(c)) {
      if (!breaks && c === 0x0a) w.putBreak();
      w.writeBreak(c);
      w.indention = true;
      breaks = true;
    } else {
      if (breaks) w.writeIndent();
      if (c === 0x27) w.put("'");
      w.put(String.fromCodePoint(c));
      w.indention = spaces = breaks = false;
    }
  }
  w.indicator("'", false);
}

const ESCAPES: Record<number, string> = { 0x00: '0', 0x07: 'a', 0x08: 'b', 0x09: 't', 0x0a: 'n', 0x0b: 'v', 0x0c: 'f', 0x0d: 'r', 0x1b: 'e', 0x22: '"', 0x5c: '\\', 0x85: 'N', 0xa0: '_', 0x2028: 'L', 0x2029: 'P' };

function writeDouble(w: Writer, v: number[]): void {
  let spaces = false;
  w.indicator('"', true);
  for (let i = 0; i < v.length; i++) {
    const c = v[i]!;
    if (!isPrintable(c) || isBreak(c) || c === 0x22 || c === 0x5c) {
      w.put('\\');
      const e = ESCAPES[c];
      if (e !== undefined) w.put(e);
      else {
        const [letter, width] = c <= 0xff ? ['x', 2] : c <= 0xffff ? ['u', 4] : ['U', 8];
        w.put(letter);
        for (const d of c.toString(16).toUpperCase().padStart(width, '0')) w.put(d);
      }
      spaces = false;
    } else if (isSpace(c)) {
      if (!spaces && w.column > BEST_WIDTH && i > 0 && i < v.length - 1) {
        w.writeIndent();
        if (isSpace(v[i + 1])) w.put('\\');
      } else w.put(' ');
      spaces = true;
    } else {
      w.put(String.fromCodePoint(c));
      spaces = false;
    }
  }
  w.indicator('"', false);
}

function writeLiteral(w: Writer, v: number[]): void {
  w.indicator('|', true);
  if (isSpace(v[0]) || isBreak(v[0])) w.indicator(String(BEST_INDENT), false);
  const last = v[v.length - 1];
  if (v.length === 0 || !isBreak(last)) w.indicator('-', false);
  else if (v.length === 1 || isBreak(v[v.length - 2])) w.indicator('+', false);
  w.putBreak();
  w.indention = w.whitespace = true;
  let breaks = true;
  for (const c of v) {
    if (isBreak(c)) {
      w.writeBreak(c);
      w.indention = breaks = true;
    } else {
      if (breaks) w.writeIndent();
      w.put(String.fromCodePoint(c));
      w.indention = breaks = false;
    }
  }
}

/**
 * One mapping value. `column` is where the emitter stands after `key:`; `indent` is the value's indentation
 * (the mapping's indent + 2, from increase_indent in emit_scalar). Returns the text and whether it ended at the
 * start of a line with indention set (a literal ending in a line break), which decides the next key's newline.
 */
function scalar(value: string, column: number, indent: number): { text: string; atLineStart: boolean } {
  const v = [...value].map((ch) => ch.codePointAt(0)!);
  let style: 'plain' | 'single' | 'double' | 'literal' = value.includes('\n') ? 'literal' : canUsePlain(value) ? 'plain' : 'double';
  const a = analyze(v);
  if (style === 'plain' && !a.blockPlainAllowed) style = 'single';
  if (style === 'single' && !a.singleQuotedAllowed) style = 'double';
  if (style === 'literal' && !a.blockAllowed) style = 'double';
  const w = new Writer(column, indent);
  if (style === 'plain') writePlain(w, v);
  else if (style === 'single') writeSingle(w, v);
  else if (style === 'double') writeDouble(w, v);
  else writeLiteral(w, v);
  return { text: w.out, atLineStart: w.indention && w.column === 0 };
}

/**
 * sigs.k8s.io/yaml re-reads the JSON as YAML before writing it, and the YAML reader refuses raw DEL and C1
 * controls and U+FFFE/U+FFFF (readerc.go); Go's JSON leaves those unescaped, so arkeod cannot print such a value
 * in text mode at all ("yaml: control characters are not allowed").
 */
const YAML_READER_REFUSES = /[\u007f-\u0084\u0086-\u009f\ufffe\uffff]/;

export class YamlError extends Error {
  constructor(readonly value: string) {
    super(`${JSON.stringify(value)}: yaml: control characters are not allowed`);
  }
}

/**
 * The same re-reading turns a raw NEL (U+0085, which Go's JSON leaves unescaped) inside a double-quoted scalar
 * into a line break, folded as YAML folds them: one break between words becomes a space, n breaks become n-1
 * newlines, and the spaces around them go.
 */
function foldNel(value: string): string {
  // Only spaces are blanks here: a tab reaches the YAML reader as the escape \t (Go's JSON), which is content.
  return value.replace(/ *(?:\u0085 *)+/g, (m) => {
    const breaks = m.split('\u0085').length - 1;
    return breaks === 1 ? ' ' : '\n'.repeat(breaks - 1);
  });
}

/** yaml.Marshal of a []map[string]string as goyaml.v2 writes it (keys sorted; all keys here are plain words). */
export function goYamlList(items: Record<string, string>[]): string {
  for (const item of items) {
    for (const v of Object.values(item)) {
      if (YAML_READER_REFUSES.test(v)) throw new YamlError(v);
    }
  }
  if (items.length === 0) return '[]\n';
  let out = '';
  for (const raw of items) {
    const item = Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, foldNel(v)]));
    const keys = Object.keys(item).sort();
    let atLineStart = true;
    keys.forEach((k, i) => {
      if (!atLineStart) out += '\n';
      out += (i === 0 ? '- ' : '  ') + k + ':';
      const s = scalar(item[k]!, 2 + k.length + 1, 2 + BEST_INDENT);
      out += s.text;
      atLineStart = s.atLineStart;
    });
    if (!atLineStart) out += '\n';
  }
  return out;
}
