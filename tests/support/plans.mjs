// Hand-written routing plans for the end-to-end tests, in the JSON shape of
// src/plan/mod.rs (serde: snake_case, externally tagged enums). The route
// compiler produces the same shape from route files.

/** The built-in default policy (docs/routes.md), resolved. */
export const POLICY = {
  attempts: 2,
  retry_on: [{ status: 429 }, "class5xx", "timeout", "connect", "reset"],
  fallback_on: ["context_length"],
  backoff: { shape: "exponential", base_ms: 200, cap_ms: 5000, jitter: "full" },
  retry_after_cap_ms: 30000,
  attempt_timeout_ms: 30000,
  first_byte_timeout_ms: null,
  total_timeout_ms: 120000,
  breaker: null,
};

/**
 * A provider. `base`: a URL, or `{ env: "VAR" }`. `keys`: secret names.
 * `headers`: [{ name, value: { text } | { secret } }].
 */
export function provider(name, base, { kind = "openai-compatible", keys = [], headers = [] } = {}) {
  return {
    name,
    kind,
    base: typeof base === "string" ? { url: base } : base,
    keys,
    headers,
    limits: [],
    aliases: [],
    prices: [],
    api_version: null,
    region: null,
  };
}

/** A target step: provider index and a fixed model, or the request's (`null`). */
export function step(providerIndex, model = null) {
  return {
    step: {
      provider: providerIndex,
      model: model === null ? "request" : { fixed: model },
      policy: 0, // index into the plan's policies: [POLICY]
    },
  };
}

/** `try a else b …` */
export const chain = (...nodes) => ({ chain: nodes });

/** `split 70% a, 30% b` as split([70, a], [30, b]). */
export const split = (...branches) => ({ split: branches.map(([weight, node]) => ({ weight, node })) });

/** A route; `when: null` is the default route. */
export function route(name, when, targets) {
  return { name, when, cache: null, limits: [], targets, source: `e2e:${name}` };
}

const literal = (v) =>
  v === null ? "null" : typeof v === "boolean" ? { bool: v } : typeof v === "number" ? { number: v } : { text: v };

/** Condition builders. Fields: "model", "endpoint", "key_name", { header: "x" }, { param: "p" }, … */
export const when = {
  eq: (field, value) => ({ compare: { field, op: "eq", value: literal(value) } }),
  ne: (field, value) => ({ compare: { field, op: "ne", value: literal(value) } }),
  in: (field, values) => ({ in: { field, values: values.map(literal) } }),
  matches: (field, pattern) => ({ matches: { field, pattern } }),
  all: (...conditions) => ({ all: conditions }),
  any: (...conditions) => ({ any: conditions }),
  model: (m) => when.eq("model", m),
  header: (name, value) => when.eq({ header: name }, value),
};

let plans = 0;

/** A whole plan; each gets a distinct hash unless one is given. */
export function plan({ providers, routes, models = [], format = 1, hash = `e2e-${++plans}` }) {
  return { format, hash, sources: ["e2e"], subrequest_cap: 50, providers, policies: [POLICY], routes, models };
}
