/** The OpenAPI document served at /openapi.json. */
const err = { type: 'object', properties: { error: { type: 'string' }, code: { type: 'string' } } };
const errors = {
  '400': { description: 'Malformed body or field', content: { 'application/json': { schema: err } } },
  '401': { description: 'Missing, unknown or revoked token', content: { 'application/json': { schema: err } } },
  '403': { description: 'Denied by the token policy or a spend ceiling', content: { 'application/json': { schema: err } } },
  '413': { description: 'Body over the limit (64 KiB by default)' },
  '429': { description: 'Token rate limit' },
  '503': { description: 'Nonce store, audit log or signing thread unavailable: nothing signed', content: { 'application/json': { schema: err } } },
};
const decimal = { type: 'string', pattern: '^(0|[1-9][0-9]*)$' };

export const OPENAPI = {
  openapi: '3.0.3',
  info: { title: 'arkeo-signer daemon', version: '1', description: 'Signs Arkeo claims with keys held in memory. Bearer-token auth; every request is audited.' },
  components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
  security: [{ bearer: [] }],
  paths: {
    '/v1/claims': {
      post: {
        summary: 'Reserve the next nonce durably and sign the claim "<cid>:<nonce>:"',
        requestBody: { required: true, content: { 'application/json': { schema: { type: 'object', required: ['contract', 'key'], additionalProperties: false, properties: { contract: decimal, key: { type: 'string' }, delegate: { type: 'boolean' } } } } } },
        responses: {
          '200': { description: 'Signed', content: { 'application/json': { schema: { type: 'object', properties: { contract: decimal, nonce: decimal, preimage: { type: 'string' }, signature: { type: 'string' }, arkauth: { type: 'string' } } } } } },
          ...errors,
        },
      },
    },
    '/v1/arkcontract': {
      post: {
        summary: 'Sign management auth "<cid>:<timestamp>:"',
        requestBody: { required: true, content: { 'application/json': { schema: { type: 'object', required: ['contract', 'key'], additionalProperties: false, properties: { contract: decimal, key: { type: 'string' }, timestamp: decimal } } } } },
        responses: { '200': { description: 'Signed', content: { 'application/json': { schema: { type: 'object', properties: { arkcontract: { type: 'string' }, signature: { type: 'string' }, timestamp: decimal } } } } }, ...errors },
      },
    },
    '/v1/sign': {
      post: {
        summary: 'Sign any message (Cosmos Sign: ECDSA over SHA-256). Needs the "raw" operation.',
        requestBody: { required: true, content: { 'application/json': { schema: { type: 'object', required: ['key'], additionalProperties: false, properties: { key: { type: 'string' }, message: { type: 'string' }, message_hex: { type: 'string' } } } } } },
        responses: { '200': { description: 'Signed', content: { 'application/json': { schema: { type: 'object', properties: { signature: { type: 'string' }, pubkey: { type: 'string' } } } } } }, ...errors },
      },
    },
    '/v1/keys': { get: { summary: 'Keys this token may use', responses: { '200': { description: 'Keys' }, '401': errors['401'] } } },
    '/healthz': { get: { security: [], summary: 'OK only when keys, nonce store and audit log all work', responses: { '200': { description: 'Healthy' }, '503': { description: 'Unhealthy' } } } },
    '/metrics': { get: { security: [], summary: 'Prometheus metrics', responses: { '200': { description: 'text/plain' } } } },
    '/openapi.json': { get: { security: [], summary: 'This document', responses: { '200': { description: 'OpenAPI' } } } },
  },
};
