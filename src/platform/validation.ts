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
  if (!r.success) {
    const errors = fieldErrors(r.error);
    throw new DomainError('invalid_input', `invalid ${errors.map((e) => e.field).join(', ')}`, errors);
  }
  return r.data;
}

class ZodPipe implements PipeTransform {
  constructor(private readonly schema: z.ZodType) {}
  transform(value: unknown): unknown {
    return parseOrThrow(this.schema, value);
  }
}

/** JSON Schema of a zod schema for @nestjs/swagger (draft 2020-12 and OpenAPI 3.1 agree). */
export function openApiSchema(schema: z.ZodType): Record<string, unknown> {
  const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  delete json.$schema;
  return json;
}

/** Validated body parameter. Pair with `@ApiBodyOf(schema)` on the handler. */
export const ValidBody = (schema: z.ZodType) => Body(new ZodPipe(schema));
export const ValidQuery = (schema: z.ZodType) => Query(new ZodPipe(schema));

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
