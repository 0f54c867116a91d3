/**
 * Errors as RFC 9457 problem details.
 *
 * Domain code throws `DomainError` with a code from a small enum; `ProblemFilter` turns it, Nest's
 * HttpExceptions, and PostgreSQL constraint violations into `application/problem+json` with every
 * bad field named. The SIP side does not use DomainError: src/calls builds its refusals from
 * sip/reasons.ts and maps billing's refusal reasons in calls/call-policy.ts.
 */
import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { QueryFailedError } from 'typeorm';

export interface FieldError {
  field: string;
  message: string;
  row?: number;
}

export type ProblemCode =
  | 'invalid_input'
  | 'unauthenticated'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'unprocessable'
  | 'unsupported_media_type'
  | 'payload_too_large'
  | 'too_many_requests'
  | 'unavailable';

const statusOf: Record<ProblemCode, number> = {
  invalid_input: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  unprocessable: 422,
  unsupported_media_type: 415,
  payload_too_large: 413,
  too_many_requests: 429,
  unavailable: 503,
};

const titleOf: Record<ProblemCode, string> = {
  invalid_input: 'Invalid input',
  unauthenticated: 'Authentication required',
  forbidden: 'Forbidden',
  not_found: 'Not found',
  conflict: 'Conflict',
  unprocessable: 'Unprocessable content',
  unsupported_media_type: 'Unsupported media type',
  payload_too_large: 'Payload too large',
  too_many_requests: 'Too many requests',
  unavailable: 'Service unavailable',
};

export class DomainError extends Error {
  constructor(
    readonly code: ProblemCode,
    message: string,
    readonly errors: FieldError[] = [],
  ) {
    super(message);
  }
  get status(): number {
    return statusOf[this.code];
  }
}

export const invalid = (field: string, message: string) => new DomainError('invalid_input', `${field}: ${message}`, [{ field, message }]);
export const notFound = (what: string, id: string) => new DomainError('not_found', `${what} ${id} does not exist`);
export const conflict = (message: string, field?: string) =>
  new DomainError('conflict', message, field ? [{ field, message }] : []);

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance?: string;
  errors: FieldError[];
  [extra: string]: unknown;
}

export function problemOf(code: ProblemCode, detail: string, errors: FieldError[] = []): Problem {
  return { type: `https://pstn-gateway.dev/problems/${code.replace(/_/g, '-')}`, title: titleOf[code], status: statusOf[code], detail, errors };
}

const httpCodes: Record<number, ProblemCode> = {
  400: 'invalid_input',
  401: 'unauthenticated',
  403: 'forbidden',
  404: 'not_found',
  409: 'conflict',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  422: 'unprocessable',
  429: 'too_many_requests',
  503: 'unavailable',
};

/** PostgreSQL SQLSTATEs for constraint violations, mapped to what the client did wrong. */
function fromDatabase(err: QueryFailedError): Problem | undefined {
  const driver = err.driverError as { code?: string; constraint?: string; detail?: string; column?: string };
  switch (driver.code) {
    case '23505':
      return problemOf('conflict', `already exists (${driver.constraint ?? 'unique'})`, [
        { field: fieldOfConstraint(driver.constraint), message: driver.detail ?? 'duplicate value' },
      ]);
    case '23503':
      return problemOf('conflict', `still referenced or referring to a missing record (${driver.constraint ?? 'foreign key'})`, [
        { field: fieldOfConstraint(driver.constraint), message: driver.detail ?? 'foreign key violation' },
      ]);
    case '23514':
    case '23502':
      return problemOf('unprocessable', `violates ${driver.constraint ?? driver.column ?? 'a constraint'}`, [
        { field: fieldOfConstraint(driver.constraint ?? driver.column), message: driver.detail ?? 'constraint violation' },
      ]);
    case '22P02':
      return problemOf('invalid_input', 'malformed value', [{ field: 'id', message: 'not a valid identifier' }]);
    default:
      return undefined;
  }
}

/** Constraint names follow `<table>_<column>_<kind>`; the column is what the client knows as a field. */
function fieldOfConstraint(name?: string): string {
  if (!name) return 'body';
  const m = /^[a-z]+_([a-z_]+?)_(key|fkey|check|uq|fk|ck)$/.exec(name);
  const col = m ? m[1] : name;
  return col.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
}

/**
 * Fastify's own refusals of a request body (before any guard or pipe), as the problems the API
 * gave for them on Express: a body that is not JSON names the field `body`.
 */
function bodyProblem(cause: unknown): Problem | undefined {
  const code = (cause as { code?: unknown } | undefined)?.code;
  if (typeof code !== 'string' || !code.startsWith('FST_ERR_CTP_')) return undefined;
  const message = (cause as Error).message;
  switch (code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return problemOf('payload_too_large', 'request body over 1 MB', [{ field: 'body', message: 'over 1 MB' }]);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return problemOf('unsupported_media_type', message, [{ field: 'Content-Type', message: 'expected application/json (text/csv for imports)' }]);
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return problemOf('invalid_input', 'malformed JSON body: empty body with Content-Type application/json', [{ field: 'body', message: 'malformed JSON' }]);
    default:
      // FST_ERR_CTP_INVALID_JSON_BODY, FST_ERR_CTP_INVALID_CONTENT_LENGTH and the like.
      return problemOf('invalid_input', `malformed JSON body: ${message}`, [{ field: 'body', message: 'malformed JSON' }]);
  }
}

@Catch()
export class ProblemFilter implements ExceptionFilter {
  private readonly logger = new Logger('http');

  catch(exception: unknown, host: ArgumentsHost): void {
    const ctx = host.switchToHttp();
    const res = ctx.getResponse<FastifyReply>();
    const req = ctx.getRequest<FastifyRequest>();
    const problem = this.toProblem(exception);
    problem.instance = (req.originalUrl ?? req.url)?.split('?')[0];
    if (problem.status >= 500) {
      this.logger.error({ err: exception, status: problem.status }, 'request failed');
    } else {
      this.logger.warn({ status: problem.status, detail: problem.detail, errors: problem.errors.slice(0, 20) }, 'request refused');
    }
    if (res.sent || res.raw.headersSent) {
      // A streamed answer (the CDR export) already under way: cut it short, visibly.
      res.raw.destroy();
      return;
    }
    void res.status(problem.status).type('application/problem+json').send(JSON.stringify(problem));
  }

  private toProblem(e: unknown): Problem {
    if (e instanceof DomainError) {
      const p = problemOf(e.code, e.message, e.errors);
      return { ...p, ...((e as DomainError & { extra?: Record<string, unknown> }).extra ?? {}) };
    }
    if (e instanceof QueryFailedError) {
      const p = fromDatabase(e);
      if (p) return p;
    }
    if (e instanceof HttpException) {
      const refused = bodyProblem(e.cause);
      if (refused) return refused;
      const status = e.getStatus();
      const body = e.getResponse();
      const detail = typeof body === 'string' ? body : String((body as { message?: unknown }).message ?? e.message);
      const code = httpCodes[status];
      if (code) return problemOf(code, detail);
      return { type: 'about:blank', title: e.name, status, detail, errors: [] };
    }
    return {
      type: 'about:blank',
      title: 'Internal Server Error',
      status: 500,
      detail: 'internal error; the X-Request-Id of this answer identifies it in the logs',
      errors: [],
    };
  }
}
