/**
 * The OpenAPI document's answers, from zod like its requests (platform/validation.ts): each handler
 * names the zod schema of its success body with `@ApiResult(schema)`, and `withProblems` gives every
 * operation the RFC 9457 problem answers it can give (400, 401, 403, 404, 409, 415, 422), described
 * once as the `Problem` component. The zod view schemas live beside each module's views
 * (`*.views.ts`) and carry the field descriptions (`.describe()`), so /docs shows what a field means.
 */
import { ApiResponse } from '@nestjs/swagger';
import type { OpenAPIObject } from '@nestjs/swagger';
import { z } from 'zod';

/** JSON Schema of what a handler answers (zod's output side: after defaults and transforms). */
export function openApiOutputSchema(schema: z.ZodType): Record<string, unknown> {
  const json = z.toJSONSchema(schema, { io: 'output', unrepresentable: 'any' }) as Record<string, unknown>;
  delete json.$schema;
  return json;
}

/** The success answer of an operation: `status` (200 unless given) with the JSON body `schema`. */
export function ApiResult(schema: z.ZodType, opts: { status?: number; description?: string } = {}): MethodDecorator {
  return ApiResponse({ status: opts.status ?? 200, description: opts.description ?? 'OK', content: { 'application/json': { schema: openApiOutputSchema(schema) as never } } });
}

/** An operation that answers 204 with no body. */
export const ApiNoContent = (description = 'Done; no body'): MethodDecorator => ApiResponse({ status: 204, description });

/** `{ data, nextCursor }`: one page of a list, newest first. */
export function pageOf<T extends z.ZodType>(item: T) {
  return z.object({
    data: z.array(item).describe('newest first'),
    nextCursor: z.string().nullable().describe('pass as `cursor` for the next (older) page; null on the last page'),
  });
}

export const timestamp = z.string().describe('ISO 8601 instant (UTC)');
export const moneyOut = z.string().describe('decimal string, 6 decimals (never a float)');

export const problemSchema = z
  .object({
    type: z.string().describe('a URI naming the kind of problem'),
    title: z.string(),
    status: z.number().int(),
    detail: z.string().describe('what was wrong, for a human'),
    instance: z.string().optional().describe('the request path'),
    errors: z
      .array(
        z.object({
          field: z.string().describe('the body field, query or path parameter, or header at fault (dotted path); `body` for the body as a whole'),
          message: z.string(),
          row: z.number().int().optional().describe('CSV imports: the 1-based data row'),
        }),
      )
      .describe('every bad field, not only the first'),
  })
  .describe('RFC 9457 problem details (application/problem+json)');

const problemText: Record<number, string> = {
  400: 'Invalid input: a body field, query parameter (unknown ones included) or path parameter is wrong; `errors` names each',
  401: 'No API key, or one that is unknown or revoked',
  403: "The API key's role may not do this",
  404: 'Nothing with this id',
  409: 'Conflicts with existing data (a duplicate, or still referenced)',
  413: 'Request body over the limit',
  415: 'Content-Type missing or not accepted (application/json; text/csv for imports)',
  422: 'Well-formed but refused by a business rule; `errors` names each problem',
};

/**
 * Adds the problem answers an operation can give, unless the handler documented them itself:
 * 400 everywhere; 401 and 403 when an API key is needed; 404 with a path parameter; 409 and 422
 * when it writes; 415 when it takes a body.
 */
export function withProblems(doc: OpenAPIObject): OpenAPIObject {
  doc.components ??= {};
  doc.components.schemas = { ...(doc.components.schemas ?? {}), Problem: openApiOutputSchema(problemSchema) as never };
  const ref = { $ref: '#/components/schemas/Problem' };
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const method of ['get', 'post', 'put', 'patch', 'delete'] as const) {
      const op = item[method];
      if (!op) continue;
      const codes = [400];
      if (op.security?.length) codes.push(401, 403);
      if (path.includes('{')) codes.push(404);
      if (method !== 'get') codes.push(409, 422);
      if (op.requestBody) codes.push(415);
      if (op.requestBody && JSON.stringify(op.requestBody).includes('text/csv')) codes.push(413);
      for (const code of codes) {
        op.responses[code] ??= { description: problemText[code], content: { 'application/problem+json': { schema: ref } } };
      }
    }
  }
  return doc;
}
