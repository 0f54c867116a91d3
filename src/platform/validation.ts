/**
 * Request validation with zod: one schema is both the validator and the OpenAPI description.
 *
 * `@ValidBody(schema)` / `@ValidQuery(schema)` parse the input and throw a 400 problem naming every
 * bad field; `@ApiBody` gets the JSON Schema of the same zod schema, so /docs never drifts.
 */
import { applyDecorators, Body, Param, PipeTransform, Query } from '@nestjs/common';
import { ApiBody, ApiQuery } from '@nestjs/swagger';
import { z } from 'zod';
import { DomainError, FieldError } from './problem';

export function fieldErrors(error: z.ZodError): FieldError[] {
  return error.issues.flatMap((i) => {
    const base = i.path.map(String);
    // An unknown key is the field at fault, not its parent object.
    if (i.code === 'unrecognized_keys') return i.keys.map((k) => ({ field: [...base, k].join('.'), message: 'unknown field' }));
    return [{ field: base.length ? base.join('.') : 'body', message: i.message }];
  });
}

export function parseOrThrow<T extends z.ZodType>(schema: T, value: unknown): z.infer<T> {
  const r = schema.safeParse(value ?? {});
  if (!r.success) throw invalidFields(fieldErrors(r.error));
  return r.data;
}

function invalidFields(errors: FieldError[]): DomainError {
  return new DomainError('invalid_input', `invalid ${errors.map((e) => e.field).join(', ')}`, errors);
}

class ZodPipe implements PipeTransform {
  constructor(private readonly schema: z.ZodType) {}
  transform(value: unknown): unknown {
    return parseOrThrow(this.schema, value);
  }
}

/**
 * A query string's `+` is a space once decoded (application/x-www-form-urlencoded), so
 * `?destination=+4420…` arrives as " 4420…". A value that is one space and then digits only can
 * only have been an E.164 `+`: it is read as one. Anything else is left for the schema to judge.
 */
export function plusFromSpace(value: unknown): unknown {
  return typeof value === 'string' && /^ [0-9]+$/.test(value) ? `+${value.slice(1)}` : value;
}

const QUERY_VALUE_SHOWN = 64;

/**
 * Query parameters: strict (an unknown parameter, such as a mistyped filter, is a 400 naming it and
 * the accepted ones, not a silently unfiltered list), `+` read back from a space, and each error
 * says what was received, since a client's URL encoding is the usual culprit.
 */
class QueryPipe implements PipeTransform {
  private readonly schema: z.ZodType;
  private readonly accepted: string[];
  constructor(schema: z.ZodType) {
    this.schema = schema instanceof z.ZodObject ? schema.strict() : schema;
    this.accepted = schema instanceof z.ZodObject ? Object.keys(schema.shape) : [];
  }
  transform(value: unknown): unknown {
    const query = Object.fromEntries(Object.entries((value ?? {}) as Record<string, unknown>).map(([k, v]) => [k, plusFromSpace(v)]));
    const r = this.schema.safeParse(query, { reportInput: true });
    if (r.success) return r.data;
    const errors = r.error.issues.flatMap((i): FieldError[] => {
      if (i.code === 'unrecognized_keys') {
        const accepted = this.accepted.length ? `; accepted: ${this.accepted.join(', ')}` : '';
        return i.keys.map((k) => ({ field: k, message: `unknown query parameter${accepted}` }));
      }
      const field = i.path.map(String).join('.') || 'query';
      const received = typeof i.input === 'string' ? ` (received ${JSON.stringify(i.input.slice(0, QUERY_VALUE_SHOWN))}${encodingHint(i.input)})` : '';
      return [{ field, message: `${i.message}${received}` }];
    });
    throw invalidFields(errors);
  }
}

/** What to tell a client whose `+` became a space somewhere we could not undo. */
function encodingHint(input: string): string {
  return / [0-9]/.test(input) ? '; a + in a query string must be sent as %2B' : '';
}

/** JSON Schema of a zod schema for @nestjs/swagger (draft 2020-12 and OpenAPI 3.1 agree). */
export function openApiSchema(schema: z.ZodType): Record<string, unknown> {
  const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  delete json.$schema;
  return json;
}

/** Validated body parameter. Pair with `@ApiBodyOf(schema)` on the handler. */
export const ValidBody = (schema: z.ZodType) => Body(new ZodPipe(schema));
export const ValidQuery = (schema: z.ZodType) => Query(new QueryPipe(schema));

export const ApiBodyOf = (schema: z.ZodType) => ApiBody({ schema: openApiSchema(schema) as never });

/** Documents each property of an object schema as a query parameter. */
export function ApiQueryOf(schema: z.ZodObject): MethodDecorator {
  const json = openApiSchema(schema) as { properties?: Record<string, Record<string, unknown>>; required?: string[] };
  return applyDecorators(
    ...Object.entries(json.properties ?? {}).map(([name, s]) =>
      ApiQuery({ name, required: json.required?.includes(name) ?? false, schema: s as never }),
    ),
  );
}

/** Decimal money amount as a string, up to 6 decimals: never a float. */
export const money = z.string().regex(/^\d{1,14}(\.\d{1,6})?$/, 'expected a decimal string such as "10.50" (up to 6 decimals)');
export const uuid = z.uuid('expected a UUID');

class ParamPipe implements PipeTransform {
  constructor(
    private readonly name: string,
    private readonly schema: z.ZodType,
  ) {}
  transform(value: unknown): unknown {
    const r = this.schema.safeParse(value);
    if (!r.success) throw new DomainError('invalid_input', `${this.name}: ${r.error.issues[0].message}`, [{ field: this.name, message: r.error.issues[0].message }]);
    return r.data;
  }
}

/** A path parameter validated by `schema`; a bad one is a 400 naming the parameter. */
export const ValidParam = (name: string, schema: z.ZodType = uuid) => Param(name, new ParamPipe(name, schema));
