/**
 * Every answer the tests get through the harness's HTTP helpers is checked against GET /openapi.json's
 * document (the same one the server serves): its path and method are described, its status is one of
 * the operation's, its media type one of that status's, and its JSON body and described headers match
 * their schemas (ajv, JSON Schema 2020-12, with formats). A path or method not described must be the
 * server's 404 JSON error, as the document says.
 */
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { apiDocument } from '../../broker-server/http/api-document';

interface MediaType {
  schema?: unknown;
}
interface ResponseObject {
  headers?: Record<string, { required?: boolean; schema?: unknown }>;
  content?: Record<string, MediaType>;
}
interface OperationObject {
  responses: Record<string, ResponseObject>;
}

const DOCUMENT_ID = 'urn:printhop:openapi';
const document = apiDocument() as { paths: Record<string, Record<string, OperationObject>> };

const ajv = new Ajv2020({ strict: false, allErrors: true, validateSchema: false });
addFormats.default(ajv);
ajv.addSchema(document, DOCUMENT_ID);

const compiled = new Map<string, ValidateFunction>();
const escape = (part: string) => part.replaceAll('~', '~0').replaceAll('/', '~1');

/** The schema at `pointer` in the document, compiled once (its `$ref`s resolve inside the document). */
function validator(pointer: string[]): ValidateFunction {
  const ref = `${DOCUMENT_ID}#/${pointer.map(escape).join('/')}`;
  let fn = compiled.get(ref);
  if (!fn) compiled.set(ref, (fn = ajv.compile({ $ref: ref })));
  return fn;
}

/** Document paths as patterns, literal ones first (`/jobs/events` before `/jobs/{id}`). */
const templates = Object.keys(document.paths)
  .map((path) => ({
    path,
    params: (path.match(/\{/g) ?? []).length,
    pattern: new RegExp(`^${path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\\?\{[^}]+\\?\}/g, '[^/]+')}$`),
  }))
  .sort((a, b) => a.params - b.params);

export interface CheckedResponse {
  method: string;
  url: string;
  status: number;
  headers: Headers;
  /** The parsed JSON body, or the text when it is not JSON. */
  body: unknown;
}

/** Throws, saying what differs, when the answer is not one the document describes. */
export function checkAgainstDocument(res: CheckedResponse): void {
  const method = res.method.toLowerCase();
  const pathname = new URL(res.url).pathname;
  const where = `${res.method.toUpperCase()} ${pathname} → ${res.status}`;
  const mediaType = (res.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  const template = templates.find((t) => t.pattern.test(pathname) && document.paths[t.path]![method]);
  if (!template) {
    // Not described: the server's own "nothing at ..." 404.
    const ok =
      res.status === 404 && mediaType === 'application/json' && validator(['components', 'schemas', 'Error'])(res.body);
    if (!ok) throw new Error(`OpenAPI: ${where} (${mediaType}): this route is not in /openapi.json`);
    return;
  }
  const operation = document.paths[template.path]![method]!;
  const family = `${String(res.status)[0]}XX`;
  const status = [String(res.status), family, 'default'].find((s) => operation.responses[s]);
  if (!status) throw new Error(`OpenAPI: ${where}: status ${res.status} is not described for ${template.path}`);
  const response = operation.responses[status]!;
  const base = ['paths', template.path, method, 'responses', status];
  for (const [name, header] of Object.entries(response.headers ?? {})) {
    const value = res.headers.get(name);
    if (value === null) {
      if (header.required) throw new Error(`OpenAPI: ${where}: header ${name} is missing`);
      continue;
    }
    const check = validator([...base, 'headers', name, 'schema']);
    if (!check(value)) throw new Error(`OpenAPI: ${where}: header ${name}: ${ajv.errorsText(check.errors)}`);
  }
  const content = response.content ?? {};
  if (Object.keys(content).length === 0) return;
  const described = Object.keys(content).find((type) => type === mediaType || type === '*/*');
  if (!described)
    throw new Error(
      `OpenAPI: ${where}: content type ${mediaType || '(none)'} is not described (${Object.keys(content).join(', ')})`,
    );
  if (described !== 'application/json') return;
  const check = validator([...base, 'content', described, 'schema']);
  if (!check(res.body))
    throw new Error(
      `OpenAPI: ${where}: the body does not match the schema: ${ajv.errorsText(check.errors)}\n${JSON.stringify(res.body).slice(0, 500)}`,
    );
}
