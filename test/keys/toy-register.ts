// Loaded with `node --import` before the CLI (test/keys/toy-backend.test.ts): the toy backend registered the way
// an add-on would register its own, in a process that otherwise knows only the built-in backends.
import { registerBackend } from '../../src/keys/index.js';
import { toyBackend } from './toy-backend.js';

registerBackend(toyBackend);
