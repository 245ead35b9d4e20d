/**
 * The key backends, one entry each: the only list of kinds. openSigner, `keys delete` and the daemon look a key's
 * kind up here and never name one themselves; a new backend is one file and one `registerBackend` call (see
 * docs/architecture.md, "Adding a backend").
 */
import { InputError } from '../errors.js';
import type { AddForm, AddValues, KeyBackend } from './backend.js';
import { localBackend } from './local.js';
import { pkcs11Backend } from './pkcs11.js';
import { cloudBackend } from './cloud.js';

const BACKENDS: KeyBackend[] = [localBackend, pkcs11Backend, cloudBackend];

/** Add a backend; its kinds must be new, and so must its `keys add` selectors (one form only may have none). */
export function registerBackend(backend: KeyBackend): void {
  const taken = backend.kinds.filter((k) => backendOf(k) !== undefined);
  if (backend.kinds.length === 0 || taken.length > 0) throw new InputError('BACKEND_KIND_TAKEN', `key backend ${backend.description}: ${taken.length ? `kind ${taken.join(', ')} is already registered` : 'names no kind'}`);
  const form = backend.add;
  if (form) {
    const selected = form.selectors.filter((s) => addForms().some((f) => f.selectors.includes(s)));
    if (selected.length > 0) throw new InputError('BACKEND_KIND_TAKEN', `key backend ${backend.description}: keys add --${selected.join(', --')} already chooses another backend`);
    if (form.selectors.length === 0) throw new InputError('BACKEND_KIND_TAKEN', `key backend ${backend.description}: its keys add form needs an option that chooses it (the default form is taken)`);
  }
  BACKENDS.push(backend);
}

/** Remove a backend added with registerBackend (tests). */
export function unregisterBackend(backend: KeyBackend): void {
  const i = BACKENDS.indexOf(backend);
  if (i >= 0) BACKENDS.splice(i, 1);
}

/** The backend that opens keys of this kind, if any (offline, ledger and multi records have none: they cannot sign). */
export function backendOf(kind: string): KeyBackend | undefined {
  return BACKENDS.find((b) => b.kinds.includes(kind));
}

/** Every backend, in registration order. */
export function keyBackends(): readonly KeyBackend[] {
  return BACKENDS;
}

/** The daemon's backends. */
export function servedBackends(): KeyBackend[] {
  return BACKENDS.filter((b) => b.served);
}

/** "local, pkcs11 or cloud KMS": what the daemon serves, for its messages. */
export function describeServed(): string {
  const names = servedBackends().map((b) => b.description);
  return names.length > 1 ? `${names.slice(0, -1).join(', ')} or ${names.at(-1)}` : (names[0] ?? 'no');
}

/** The backends' `keys add` forms, in registration order: the CLI's `keys add` is made of them. */
export function addForms(): AddForm[] {
  return BACKENDS.flatMap((b) => (b.add ? [b.add] : []));
}

/** The `keys add` form the options choose: the one whose selector is given, else the default form (no selector). */
export function addFormFor(values: AddValues): AddForm {
  const forms = addForms();
  const form = forms.find((f) => f.selectors.some((s) => values[s] !== undefined)) ?? forms.find((f) => f.selectors.length === 0);
  if (!form) throw new InputError('NO_ADD_FORM', 'keys add: no key backend makes keys here');
  return form;
}
