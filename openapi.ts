/**
 * @module openapi — an OpenAPI 3.1 document from a table of operations and the zod schemas they name:
 * bodies and queries as zod parses them (input), responses as the server writes them (output), both
 * through `z.toJSONSchema` (JSON Schema 2020-12, the dialect of 3.1). It knows no route: routes/openapi_table.ts
 * owns the table.
 */
import { z } from "zod";

export type TokenKind = "room" | "view" | "agent";
export type Method = "get" | "post" | "put" | "patch" | "delete";

export type Operation = {
  method: Method;
  /** the route's Hono pattern (`/rooms/:id`) */
  path: string;
  id: string;
  summary: string;
  tag: string;
  /** the token kinds this route accepts; none: it needs no token */
  tokens: readonly TokenKind[];
  /** it also works without a token (the answer may differ) */
  tokenOptional?: boolean;
  query?: z.ZodObject;
  body?: z.ZodType;
  /** an empty body means `{}` */
  bodyOptional?: boolean;
  /** names of shared parameters (`parameters` of the document input), e.g. a header */
  headers?: string[];
  /** the answer it documents: the success (or, for a method a path refuses, that error) */
  ok: {
    status: number;
    description: string;
    schema?: z.ZodType;
    /** a media type other than our JSON (which takes the `jsonParameters`) */
    type?: string;
  };
  /** other answers than `ok` it documents (a 202 beside a 200) */
  also?: Operation["ok"][];
  /** more than the summary says */
  description?: string;
};

type Json = Record<string, unknown>;

export type DocumentInput = {
  info: { title: string; version: string; description: string };
  tags: { name: string; description: string }[];
  tokens: Record<TokenKind, string>;
  pathParams: Record<string, string>;
  parameters: Record<string, Json>;
  /** names of `parameters` every operation answering our JSON takes (`compact`) */
  jsonParameters: string[];
  /** named schemas, converted as input (requests) and as output (responses); the names are components */
  requests: Record<string, z.ZodType>;
  responses: Record<string, z.ZodType>;
  /** the error body every 4XX/5XX answer carries (one of `responses`) */
  error: z.ZodType;
  operations: Operation[];
};

const REF = "#/components/schemas/";

/** Named schemas as JSON Schemas, referring to each other by `$ref` into components. */
function convert(named: Record<string, z.ZodType>, io: "input" | "output") {
  const reg = z.registry<{ id: string }>();
  for (const [id, s] of Object.entries(named)) reg.add(s, { id });
  const { schemas } = z.toJSONSchema(reg, { io, uri: (id) => REF + id });
  for (const s of Object.values(schemas)) delete s.$schema, delete s.$id;
  const ref = (s: z.ZodType): Json => {
    const id = reg.get(s)?.id;
    if (id) return { $ref: REF + id };
    const { $schema: _, ...inline } = z.toJSONSchema(s, { io });
    return inline;
  };
  return { schemas, ref };
}

export function buildOpenApi(d: DocumentInput): Json {
  const req = convert(d.requests, "input");
  const res = convert(d.responses, "output");
  for (const k of Object.keys(req.schemas)) {
    if (k in res.schemas) throw new Error(`schema name ${k} is both a request and a response`);
  }
  const paths: Record<string, Record<string, Json>> = {};
  for (const op of d.operations) {
    const path = op.path.replace(/:(\w+)/g, "{$1}");
    (paths[path] ??= {})[op.method] = operation(d, op, req.ref, res.ref);
  }
  const securitySchemes: Record<string, Json> = {};
  for (const [k, description] of Object.entries(d.tokens)) {
    securitySchemes[`${k}Token`] = { type: "http", scheme: "bearer", description };
  }
  return {
    openapi: "3.1.1",
    jsonSchemaDialect: "https://json-schema.org/draft/2020-12/schema",
    info: d.info,
    servers: [{ url: "/", description: "the server that serves this document" }],
    tags: d.tags,
    paths,
    components: {
      schemas: { ...req.schemas, ...res.schemas },
      parameters: d.parameters,
      responses: {
        Error: {
          description: "`{error, message, …details}`",
          headers: { "X-Error-Code": { description: "the `error` code", schema: { type: "string" } } },
          content: { "application/json": { schema: res.ref(d.error) } },
        },
      },
      securitySchemes,
    },
  };
}

function operation(
  d: DocumentInput,
  op: Operation,
  reqRef: (s: z.ZodType) => Json,
  resRef: (s: z.ZodType) => Json,
) {
  const parameters: Json[] = [...op.path.matchAll(/:(\w+)/g)].map(([, name]) => ({
    name,
    in: "path",
    required: true,
    description: d.pathParams[name],
    schema: { type: "string" },
  }));
  if (op.query) {
    const q = z.toJSONSchema(op.query, { io: "input" }) as { properties?: Json; required?: string[] };
    for (const [name, prop] of Object.entries(q.properties ?? {})) {
      const { description, ...schema } = prop as Json;
      parameters.push({
        name,
        in: "query",
        required: q.required?.includes(name) ?? false,
        description,
        schema,
      });
    }
  }
  const shared = [...(op.headers ?? []), ...(op.ok.type ? [] : d.jsonParameters)];
  for (const name of shared) parameters.push({ $ref: `#/components/parameters/${name}` });
  const error = { $ref: "#/components/responses/Error" };
  const answer = (a: Operation["ok"]) => ({
    description: a.description,
    content: { [a.type ?? "application/json"]: { schema: a.schema ? resRef(a.schema) : { type: "string" } } },
  });
  return {
    operationId: op.id,
    summary: op.summary,
    ...(op.description ? { description: op.description } : {}),
    tags: [op.tag],
    security: [
      ...(op.tokenOptional ? [{}] : []),
      ...op.tokens.map((k) => ({ [`${k}Token`]: [] })),
    ],
    ...(parameters.length ? { parameters } : {}),
    ...(op.body
      ? {
        requestBody: {
          required: !op.bodyOptional,
          content: { "application/json": { schema: reqRef(op.body) } },
        },
      }
      : {}),
    responses: {
      [op.ok.status]: answer(op.ok),
      ...Object.fromEntries((op.also ?? []).map((a) => [a.status, answer(a)])),
      "4XX": error,
      "5XX": error,
    },
  };
}
