/**
 * An OpenAPI 3.1 document as a judge of real answers: which operations it has, and whether an
 * answer (status, content type, body) is one it describes, the JSON bodies validated against the
 * document's own schemas with ajv (JSON Schema 2020-12, formats on).
 */
import { readFileSync } from 'node:fs';
import { Ajv2020, type ErrorObject } from 'ajv/dist/2020.js';
import formats from 'ajv-formats';

// A CommonJS module: under NodeNext its `exports.default` (the plugin) is `.default` of the import.
const addFormats = formats.default;

type Json = Record<string, unknown>;

export interface Operation {
  /** `GET /state/items` */
  key: string;
  method: string;
  path: string;
  operationId: string;
  /** True when the operation takes something a client can get wrong (parameters, a body, a credential). */
  takesInput: boolean;
}

export interface Answer {
  status: number;
  contentType: string | null;
  body: Buffer;
  /** When given, the response's documented headers must be among them. */
  headers?: Headers;
}

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'];

export class OpenApiSpec {
  readonly doc: Json;
  private readonly ajv;
  private readonly id: string;

  constructor(file: string) {
    this.doc = JSON.parse(readFileSync(file, 'utf8')) as Json;
    this.id = `https://hydra.invalid/${encodeURIComponent(file)}`;
    // Not strict: the document's OpenAPI keywords around the schemas are not JSON Schema.
    this.ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats(this.ajv);
    this.ajv.addSchema({ ...this.doc, $id: this.id });
  }

  operations(): Operation[] {
    const ops: Operation[] = [];
    for (const [path, item] of Object.entries(this.doc.paths as Record<string, Json>)) {
      for (const method of METHODS) {
        const op = item[method] as Json | undefined;
        if (!op) continue;
        const takesInput = ((op.parameters as unknown[] | undefined)?.length ?? 0) > 0 || op.requestBody !== undefined || op.security !== undefined;
        ops.push({ key: `${method.toUpperCase()} ${path}`, method: method.toUpperCase(), path, operationId: String(op.operationId), takesInput });
      }
    }
    return ops;
  }

  /** The problems with `answer` as an answer of operation `key` (empty: it is described). */
  check(key: string, answer: Answer): string[] {
    const [method, path] = key.split(' ') as [string, string];
    const pathItem = (this.doc.paths as Record<string, Json>)[path];
    const op = pathItem?.[method.toLowerCase()] as Json | undefined;
    if (!op) return [`${key} is not an operation of the document`];
    const responses = op.responses as Json;
    const status = String(answer.status);
    let pointer = `/paths/${escape(path)}/${method.toLowerCase()}/responses/${status}`;
    let response = responses[status] as Json | undefined;
    if (!response) return [`status ${status} is not documented for ${key} (documented: ${Object.keys(responses).join(', ')})`];
    if (typeof response.$ref === 'string') {
      pointer = response.$ref.slice(1);
      response = this.at(pointer) as Json;
    }
    const missing = Object.keys((response.headers as Json | undefined) ?? {}).filter((name) => answer.headers && !answer.headers.has(name));
    if (missing.length > 0) return [`${key} ${status}: documented header(s) ${missing.join(', ')} missing`];
    const content = response.content as Record<string, Json> | undefined;
    const media = answer.contentType?.split(';')[0]!.trim().toLowerCase() ?? null;
    if (!content) return answer.body.length === 0 ? [] : [`${key} ${status} is documented without a body, got ${answer.body.length} bytes of ${media}`];
    if (media === null || !content[media]) return [`content type ${answer.contentType} is not documented for ${key} ${status} (documented: ${Object.keys(content).join(', ')})`];
    if (!media.endsWith('json')) return [];
    let body: unknown;
    try {
      body = JSON.parse(answer.body.toString('utf8'));
    } catch {
      return [`${key} ${status}: the body is not JSON: ${answer.body.toString('utf8').slice(0, 200)}`];
    }
    return this.validate(`${pointer}/content/${escape(media)}/schema`, body).map((e) => `${key} ${status}: ${e}`);
  }

  /** Problems of `value` against the schema at `pointer` in the document (JSON Pointer). */
  validate(pointer: string, value: unknown): string[] {
    const validate = this.ajv.getSchema(`${this.id}#${pointer}`);
    if (!validate) return [`no schema at ${pointer}`];
    if (validate(value)) return [];
    return (validate.errors ?? []).map((e: ErrorObject) => `${e.instancePath || '(body)'} ${e.message ?? ''} ${e.params ? JSON.stringify(e.params) : ''}`.trim());
  }

  private at(pointer: string): unknown {
    return pointer
      .split('/')
      .slice(1)
      .reduce<unknown>((node, part) => (node as Json)[part.replace(/~1/g, '/').replace(/~0/g, '~')], this.doc);
  }
}

function escape(part: string): string {
  return part.replace(/~/g, '~0').replace(/\//g, '~1');
}
