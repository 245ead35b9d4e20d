import { InputError } from '../errors.js';

/**
 * RFC 7512 PKCS#11 URIs, the part we use: which token (by label, optionally serial) and which key (by label and/or
 * CKA_ID). A PIN never travels in a URI here: `pin-value` is refused, so it cannot end up in a keyring file.
 */
export interface Pkcs11Uri {
  token: string;
  object?: string;
  /** CKA_ID bytes. */
  id?: Uint8Array;
  serial?: string;
  /** `module-path` query attribute, when given. */
  modulePath?: string;
}

const PATH_ATTRS = new Set(['token', 'object', 'id', 'serial', 'type', 'manufacturer', 'model', 'library-manufacturer', 'library-description', 'library-version', 'slot-description', 'slot-manufacturer', 'slot-id']);
const USED_PATH_ATTRS = ['token', 'object', 'id', 'serial', 'type'];

function pctBytes(text: string, what: string): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '%') {
      const hex = text.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) throw new InputError('BAD_PKCS11_URI', `pkcs11 URI: ${what}: bad percent-escape "%${hex}"`);
      out.push(parseInt(hex, 16));
      i += 2;
    } else out.push(...Buffer.from(c, 'utf8'));
  }
  return new Uint8Array(out);
}

function pctText(text: string, what: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(pctBytes(text, what));
  } catch (e) {
    if (e instanceof InputError) throw e;
    throw new InputError('BAD_PKCS11_URI', `pkcs11 URI: ${what}: not valid UTF-8 after percent-decoding`);
  }
}

/** `name=value` attributes separated by `separator`, the name in lower case; empty ones skipped. */
function attributes(text: string, separator: string): [name: string, raw: string][] {
  return text
    .split(separator)
    .filter((a) => a !== '')
    .map((attr) => {
      const eq = attr.indexOf('=');
      return eq >= 0 ? [attr.slice(0, eq).toLowerCase(), attr.slice(eq + 1)] : [attr.toLowerCase(), ''];
    });
}

/** The path attributes that are labels, read as UTF-8 text. */
const TEXT_ATTRS = ['token', 'object', 'serial'] as const;
const isTextAttr = (name: string): name is (typeof TEXT_ATTRS)[number] => (TEXT_ATTRS as readonly string[]).includes(name);

/** Parse `pkcs11:token=…;object=…[;id=%01…][?module-path=…]`. Errors name the attribute at fault. */
export function parsePkcs11Uri(uri: string): Pkcs11Uri {
  if (typeof uri !== 'string' || !/^pkcs11:/i.test(uri)) throw new InputError('BAD_PKCS11_URI', `pkcs11 URI: expected "pkcs11:token=LABEL;object=LABEL", got "${String(uri).slice(0, 80)}"`);
  if (uri.length > 4096) throw new InputError('BAD_PKCS11_URI', 'pkcs11 URI: longer than 4096 characters');
  const body = uri.slice('pkcs11:'.length);
  const q = body.indexOf('?');
  const pathPart = q >= 0 ? body.slice(0, q) : body;
  const query = q >= 0 ? body.slice(q + 1) : '';
  const out: Partial<Pkcs11Uri> = {};
  const seen = new Set<string>();
  for (const [name, raw] of attributes(pathPart, ';')) {
    if (!PATH_ATTRS.has(name)) throw new InputError('BAD_PKCS11_URI', `pkcs11 URI: unknown attribute "${name.slice(0, 40)}" (use ${USED_PATH_ATTRS.join(', ')})`);
    if (seen.has(name)) throw new InputError('BAD_PKCS11_URI', `pkcs11 URI: attribute "${name}" given twice`);
    seen.add(name);
    if (isTextAttr(name)) out[name] = pctText(raw, name);
    else if (name === 'id') out.id = pctBytes(raw, 'id');
    else if (name === 'type' && !['private', 'public'].includes(raw)) throw new InputError('BAD_PKCS11_URI', `pkcs11 URI: type: expected private (the signing key), got "${raw.slice(0, 20)}"`);
    // Other RFC 7512 attributes narrow the search on some tokens; the token label (and serial) is what we match.
  }
  for (const [name, raw] of attributes(query, '&')) {
    if (name === 'pin-value' || name === 'pin-source') {
      throw new InputError('BAD_PKCS11_URI', `pkcs11 URI: ${name} is not accepted (a PIN must not be stored with the key); use --pin-file, ARKEO_PKCS11_PIN or the prompt`);
    }
    if (name === 'module-path') out.modulePath = pctText(raw, 'module-path');
    else if (name !== 'module-name') throw new InputError('BAD_PKCS11_URI', `pkcs11 URI: unknown query attribute "${name.slice(0, 40)}"`);
  }
  if (!out.token) throw new InputError('BAD_PKCS11_URI', 'pkcs11 URI: token=LABEL is required');
  if (out.object === undefined && out.id === undefined) throw new InputError('BAD_PKCS11_URI', 'pkcs11 URI: give object=LABEL and/or id=%XX… to name the key');
  if (out.object === '') throw new InputError('BAD_PKCS11_URI', 'pkcs11 URI: object: must not be empty');
  if (out.id && out.id.length === 0) throw new InputError('BAD_PKCS11_URI', 'pkcs11 URI: id: must not be empty');
  return out as Pkcs11Uri;
}

const UNRESERVED = /[A-Za-z0-9\-._~]/;

function pct(text: string): string {
  let s = '';
  for (const b of Buffer.from(text, 'utf8')) {
    const c = String.fromCharCode(b);
    s += b < 0x80 && UNRESERVED.test(c) ? c : '%' + b.toString(16).padStart(2, '0').toUpperCase();
  }
  return s;
}

/** The canonical form we store: token, object, id, type=private; module-path is kept apart (its own field). */
export function formatPkcs11Uri(u: Pkcs11Uri): string {
  const parts = [`token=${pct(u.token)}`];
  if (u.serial !== undefined) parts.push(`serial=${pct(u.serial)}`);
  if (u.object !== undefined) parts.push(`object=${pct(u.object)}`);
  if (u.id !== undefined) parts.push(`id=${[...u.id].map((b) => '%' + b.toString(16).padStart(2, '0').toUpperCase()).join('')}`);
  parts.push('type=private');
  return `pkcs11:${parts.join(';')}`;
}

/** For messages: `token "T" object "O"` (never a PIN; labels are the user's own names). */
export function describePkcs11Uri(u: Pkcs11Uri): string {
  const key = u.object !== undefined ? `object "${u.object}"` : `id ${Buffer.from(u.id!).toString('hex')}`;
  return `pkcs11 token "${u.token}" ${key}`;
}
