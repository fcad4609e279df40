/**
 * The OpenAPI documents validate as OpenAPI 3.1 (the official 3.1 schema, shipped by
 * @seriousme/openapi-schema-validator), their schemas compile under JSON Schema 2020-12, and
 * every operation has an id and documents its error answers with the one error shape
 * (`{error}`; the admin API's child actions add OTP's `reason`).
 */
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { Validator } from '@seriousme/openapi-schema-validator';
import t from 'tap';
import { OpenApiSpec } from '../pipeline/openApiSpec.js';

const DOCUMENTS = ['../../services/openapi.json', '../../node/openapi.json'].map((p) => fileURLToPath(new URL(p, import.meta.url)));

for (const file of DOCUMENTS) {
  t.test(`${file.split('/').slice(-2).join('/')} validates as OpenAPI 3.1`, async (t) => {
    const doc = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    const validator = new Validator();
    const result = await validator.validate(doc);
    t.equal(validator.version, '3.1', 'read as a 3.1 document');
    t.same(result.errors ?? [], [], 'no schema errors');
    t.equal(result.valid, true);
  });

  t.test(`${file.split('/').slice(-2).join('/')}: operations have ids, errors use the Error shape`, async (t) => {
    const spec = new OpenApiSpec(file);
    const ops = spec.operations();
    t.ok(ops.length > 0);
    t.equal(new Set(ops.map((o) => o.operationId)).size, ops.length, 'operation ids are unique');
    const doc = spec.doc as { paths: Record<string, Record<string, { responses: Record<string, { $ref?: string; content?: Record<string, { schema: unknown }> }> }>>; components: { responses?: Record<string, { content: Record<string, { schema: unknown }> }> } };
    for (const op of ops) {
      for (const [status, response] of Object.entries(doc.paths[op.path]![op.method.toLowerCase()]!.responses)) {
        // A health check's 503 is its report (unhealthy, and why), not a refused request.
        if (Number(status) < 400 || op.path === '/healthz') continue;
        const resolved = response.$ref ? doc.components.responses![response.$ref.split('/').pop()!]! : response;
        const schema = resolved.content?.['application/json']?.schema as { $ref?: string } | undefined;
        // The one error shape; the admin API's child actions add OTP's `reason` beside `error`.
        t.ok(schema?.$ref === '#/components/schemas/Error' || schema?.$ref === '#/components/schemas/ChildActionError', `${op.key} ${status} is an Error`);
        t.same(spec.validate(schema?.$ref?.slice(1) ?? '/none', { error: 'x', reason: 'not_found' }).length === 0 || spec.validate(schema?.$ref?.slice(1) ?? '/none', { error: 'x' }).length === 0, true, `${op.key} ${status} carries \`error\``);
      }
    }
    t.same(spec.validate('/components/schemas/Error', { error: 'x' }), []);
    t.not(spec.validate('/components/schemas/Error', { error: 'x', type: 'HttpError' }).length, 0, 'nothing beside the reason');
  });
}
