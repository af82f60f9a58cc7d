// GraphQL documents typed and checked against docs/schema.graphql (gql.tada): a document
// that asks for a field the schema lacks fails `gql-tada check` and `tsc`, so the build.
import { initGraphQLTada } from "gql.tada";
import type { introspection } from "./graphql-env.d.ts";

export const graphql = initGraphQLTada<{
  // Fragments are plain field lists here: components read them without unmasking.
  disableMasking: true;
  introspection: introspection;
  scalars: { DateTime: string; JSON: unknown; ID: string; Long: number };
}>();

export type { ResultOf, VariablesOf } from "gql.tada";
