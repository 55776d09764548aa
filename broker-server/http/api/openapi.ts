/**
 * GET /openapi.json: an OpenAPI 3.1 document built from a registry of operations. Each route module
 * exports the operations it serves (`ApiOperation`, next to the route), with the zod schemas that
 * validate its requests (http/validation.ts) and describe its answers (http/api-schemas.ts);
 * http/api-document.ts lists the modules. zod 4 turns the schemas into JSON Schema 2020-12, the
 * dialect of OpenAPI 3.1, so no other library is needed.
 */
import { z } from 'zod';
import { ApiError } from './api-schemas';

export type HttpMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';

/** An answer: JSON with a schema, HTML, server-sent events or plain text (with its media type). */
export interface ApiResponse {
  description: string;
  json?: z.ZodType;
  html?: boolean;
  /** `text/event-stream`: the events are described in `description`. */
  events?: boolean;
  /** Another media type with a string body, e.g. `text/plain`. */
  text?: string;
  headers?: Record<string, { description: string; schema?: z.ZodType; required?: boolean }>;
}

export type StatusKey = number | '4XX' | '5XX' | 'default';

export interface ApiOperation {
  method: HttpMethod;
  /** Express's form: `/jobs/:id`. */
  path: string;
  summary: string;
  description?: string;
  tags: readonly string[];
  operationId: string;
  /** Path parameters, query parameters and request headers: one zod object each, a field per parameter. */
  params?: z.ZodObject;
  query?: z.ZodObject;
  headers?: z.ZodObject;
  /** The request body by media type. */
  body?: { json?: z.ZodType; form?: z.ZodType; required?: boolean; description?: string };
  /**
   * Who may call: `apiKey` (an optional Bearer API key, required with API_KEYS_REQUIRED), `apiKeyOptional`
   * (the page's routes: a key is checked when sent, never required), `admin`, `metrics`, or `none`.
   */
  auth: 'apiKey' | 'apiKeyOptional' | 'admin' | 'metrics' | 'none';
  responses: Partial<Record<StatusKey, ApiResponse>>;
  deprecated?: boolean;
}

/** Express `/jobs/:id` → OpenAPI `/jobs/{id}`. */
export const openApiPath = (path: string): string => path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

// ---- answers shared by many operations ----

/** A JSON error, and for the page's forms (htmx or without JavaScript) the same refusal in HTML. */
export function errorResponse(
  description: string,
  options: { html?: boolean; retryAfter?: boolean } = {},
): ApiResponse {
  return {
    description,
    json: ApiError,
    ...(options.html ? { html: true } : {}),
    ...(options.retryAfter
      ? { headers: { 'Retry-After': { description: 'Seconds to wait', schema: z.string().regex(/^\d+$/) } } }
      : {}),
  };
}

/** Answers every operation may give, added by the document builder. */
function commonResponses(op: ApiOperation): Partial<Record<StatusKey, ApiResponse>> {
  const page = op.auth === 'apiKeyOptional' || Boolean(op.body?.form);
  const common: Partial<Record<StatusKey, ApiResponse>> = {
    421: {
      description: 'Misdirected Request: the Host header is not one of this server’s names (ALLOWED_HOSTS)',
      text: 'text/plain',
    },
    '5XX': errorResponse('Server error (the server log has the details) or shutting down', { html: page }),
  };
  if (op.auth === 'apiKey' || op.auth === 'apiKeyOptional')
    common[401] = errorResponse(
      op.auth === 'apiKey'
        ? 'The Authorization header is malformed, or the API key unknown or revoked; or API_KEYS_REQUIRED and no key'
        : 'The Authorization header is malformed, or the API key unknown or revoked',
      { html: page },
    );
  if (op.body) {
    common[400] = errorResponse('The body is not valid JSON, or the request is invalid', { html: page });
    common[413] = errorResponse('The body is larger than BODY_LIMIT_BYTES', { html: page });
    common[415] = errorResponse('The body is not UTF-8, or not JSON nor a form', { html: page });
  }
  return common;
}

// ---- the document ----

type JsonSchema = Record<string, unknown>;

/** Turns zod schemas into JSON Schemas, schemas with an `id` (`.meta({ id })`) into shared components. */
class SchemaSet {
  readonly components: Record<string, JsonSchema> = {};

  convert(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
    const {
      $schema: _dialect,
      $defs,
      ...json
    } = z.toJSONSchema(schema, {
      io,
      target: 'draft-2020-12',
      unrepresentable: 'any',
    }) as JsonSchema & { $defs?: Record<string, JsonSchema> };
    for (const [id, def] of Object.entries($defs ?? {})) {
      const rewritten = rewriteRefs(def) as JsonSchema;
      const known = this.components[id];
      if (known && JSON.stringify(known) !== JSON.stringify(rewritten))
        throw new Error(`two different schemas are named ${id} in the API description`);
      this.components[id] = rewritten;
    }
    return rewriteRefs(json) as JsonSchema;
  }
}

function rewriteRefs(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(rewriteRefs);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [
      k,
      k === '$ref' && typeof v === 'string' ? v.replace('#/$defs/', '#/components/schemas/') : rewriteRefs(v),
    ]),
  );
}

function parameters(set: SchemaSet, where: 'path' | 'query' | 'header', schema: z.ZodObject | undefined) {
  if (!schema) return [];
  const json = set.convert(schema, 'input') as { properties?: Record<string, JsonSchema>; required?: string[] };
  return Object.entries(json.properties ?? {}).map(([name, property]) => {
    const { description, ...rest } = property;
    return {
      name,
      in: where,
      required: where === 'path' || (json.required ?? []).includes(name),
      ...(description ? { description } : {}),
      schema: rest,
    };
  });
}

function response(set: SchemaSet, r: ApiResponse) {
  const content: Record<string, unknown> = {};
  if (r.json) content['application/json'] = { schema: set.convert(r.json, 'output') };
  if (r.html) content['text/html'] = { schema: { type: 'string' } };
  if (r.events) content['text/event-stream'] = { schema: { type: 'string' } };
  if (r.text) content[r.text] = { schema: { type: 'string' } };
  const headers = r.headers
    ? Object.fromEntries(
        Object.entries(r.headers).map(([name, h]) => [
          name,
          {
            description: h.description,
            ...(h.required ? { required: true } : {}),
            schema: h.schema ? set.convert(h.schema, 'output') : { type: 'string' },
          },
        ]),
      )
    : undefined;
  return {
    description: r.description,
    ...(headers ? { headers } : {}),
    ...(Object.keys(content).length ? { content } : {}),
  };
}

const SECURITY: Record<ApiOperation['auth'], Array<Record<string, string[]>>> = {
  // An empty requirement: callable without a key (unless API_KEYS_REQUIRED).
  apiKey: [{}, { apiKey: [] }],
  apiKeyOptional: [{}, { apiKey: [] }],
  admin: [{ adminPassword: [] }],
  metrics: [{}, { metricsToken: [] }],
  none: [],
};

export interface DocumentInfo {
  title: string;
  version: string;
  description: string;
}

export function openApiDocument(operations: readonly ApiOperation[], info: DocumentInfo): Record<string, unknown> {
  const set = new SchemaSet();
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of operations) {
    const path = openApiPath(op.path);
    const item = (paths[path] ??= {});
    if (item[op.method]) throw new Error(`${op.method.toUpperCase()} ${op.path} is described twice`);
    const body = op.body
      ? {
          required: op.body.required ?? true,
          ...(op.body.description ? { description: op.body.description } : {}),
          content: {
            ...(op.body.json ? { 'application/json': { schema: set.convert(op.body.json, 'input') } } : {}),
            ...(op.body.form
              ? { 'application/x-www-form-urlencoded': { schema: set.convert(op.body.form, 'input') } }
              : {}),
          },
        }
      : undefined;
    const responses = { ...commonResponses(op), ...op.responses };
    item[op.method] = {
      operationId: op.operationId,
      summary: op.summary,
      ...(op.description ? { description: op.description } : {}),
      tags: op.tags,
      ...(op.deprecated ? { deprecated: true } : {}),
      security: SECURITY[op.auth],
      parameters: [
        ...parameters(set, 'path', op.params),
        ...parameters(set, 'query', op.query),
        ...parameters(set, 'header', op.headers),
      ],
      ...(body ? { requestBody: body } : {}),
      responses: Object.fromEntries(
        Object.entries(responses)
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([status, r]) => [status, response(set, r!)]),
      ),
    };
  }
  return {
    openapi: '3.1.0',
    info: { ...info, license: { name: 'MIT', identifier: 'MIT' } },
    paths,
    components: {
      schemas: Object.fromEntries(Object.entries(set.components).sort(([a], [b]) => a.localeCompare(b))),
      securitySchemes: {
        apiKey: {
          type: 'http',
          scheme: 'bearer',
          description:
            'An API key (`npm run api-keys -- create NAME`): `Authorization: Bearer ph_...`. Optional unless API_KEYS_REQUIRED=true; a key gets its own rate limit (API_KEY_RATE_PER_MINUTE).',
        },
        adminPassword: {
          type: 'http',
          scheme: 'bearer',
          description: 'The admin password (ADMIN_PASSWORD) as a Bearer token, for the admin API',
        },
        metricsToken: {
          type: 'http',
          scheme: 'bearer',
          description: 'METRICS_TOKEN, when it is set',
        },
      },
    },
  };
}
