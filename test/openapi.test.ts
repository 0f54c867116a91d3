/**
 * The OpenAPI document a newcomer reads at /docs: every operation says what it answers (a schema for
 * its success body, or 204) and which problems it gives, the fields carry descriptions from the zod
 * schemas, and the bearer scheme is the gateway's opaque API key, not a JWT.
 */
import { startTestApp, TestApp } from './support/app';

type Schema = { $ref?: string; type?: string; properties?: Record<string, Schema>; description?: string; items?: Schema };
type Operation = { responses: Record<string, { description?: string; content?: Record<string, { schema?: Schema }> }>; security?: unknown[]; requestBody?: unknown };

describe('OpenAPI document', () => {
  let t: TestApp;
  let doc: { paths: Record<string, Record<string, Operation>>; components: { securitySchemes: Record<string, Record<string, string>>; schemas: Record<string, Schema> } };
  beforeAll(async () => {
    t = await startTestApp();
    doc = (await t.http(null).get('/docs-json').expect(200)).body;
  });
  afterAll(() => t.close());

  const operations = () =>
    Object.entries(doc.paths).flatMap(([path, item]) =>
      Object.entries(item)
        .filter(([method]) => ['get', 'post', 'put', 'patch', 'delete'].includes(method))
        .map(([method, op]) => ({ name: `${method.toUpperCase()} ${path}`, path, method, op })),
    );

  it('gives every operation a success answer with a response schema (or 204) and problem answers', () => {
    const ops = operations();
    expect(ops.length).toBeGreaterThan(50);
    const missing: string[] = [];
    for (const { name, path, op } of ops) {
      const success = Object.entries(op.responses).filter(([code]) => /^2\d\d$/.test(code));
      if (success.length === 0) missing.push(`${name}: no 2xx answer`);
      for (const [code, r] of success) {
        if (code === '204') continue;
        const schemas = Object.values(r.content ?? {}).map((c) => c.schema);
        if (!schemas.length || schemas.some((s) => !s || (!s.type && !s.$ref && !s.properties))) missing.push(`${name}: ${code} has no schema`);
      }
      if (op.responses['400']?.content?.['application/problem+json']?.schema?.$ref !== '#/components/schemas/Problem') missing.push(`${name}: no 400 problem`);
      if (op.security?.length && !op.responses['401']) missing.push(`${name}: secured but no 401`);
      if (path.includes('{') && !op.responses['404']) missing.push(`${name}: no 404`);
    }
    expect(missing).toEqual([]);
    expect(doc.components.schemas.Problem.properties?.errors?.description).toBe('every bad field, not only the first');
  });

  it('describes the bearer scheme as the opaque gwk_ API key, not a JWT', () => {
    const schemes = Object.values(doc.components.securitySchemes);
    expect(schemes).toHaveLength(1);
    const [bearer] = schemes;
    expect(bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(JSON.stringify(bearer)).not.toMatch(/"JWT"/);
    expect(bearer.bearerFormat).not.toMatch(/jwt/i);
    expect(bearer.description).toContain('gwk_');
    expect(bearer.description).toContain('not a JWT');
  });

  it('carries field descriptions from the zod schemas, requests and answers alike', () => {
    const schemaOf = (path: string, method: string, code: string) => doc.paths[path][method].responses[code].content!['application/json'].schema!;
    const account = schemaOf('/v1/accounts/{id}', 'get', '200');
    expect(account.properties!.rateDeckId.description).toMatch(/refused/);
    const route = schemaOf('/v1/routes', 'post', '201');
    expect(route.properties!.prefix.description).toContain('catch-all');
    const user = schemaOf('/v1/users/{id}', 'get', '200');
    expect(Object.keys(user.properties!)).toEqual(expect.arrayContaining(['sipUri', 'realm']));
    const cdrs = schemaOf('/v1/cdrs', 'get', '200');
    expect(cdrs.properties!.data.description).toBe('newest first');
    const entry = schemaOf('/v1/tollfree/{e164}', 'get', '200');
    expect(entry.properties!.rules.description).toMatch(/first rule whose conditions all hold/);
    const createAccount = (doc.paths['/v1/accounts'].post.requestBody as { content: Record<string, { schema: Schema }> }).content['application/json'].schema;
    expect(createAccount.properties!.rateDeckId.description).toMatch(/rate deck/);
    const usage = (doc.paths['/v1/usage'].get as unknown as { parameters: { name: string; required: boolean; schema: Schema }[] }).parameters;
    expect(usage.find((p) => p.name === 'from')).toMatchObject({ required: false });
    expect(usage.find((p) => p.name === 'from')!.schema.description).toMatch(/default/);
  });
});
