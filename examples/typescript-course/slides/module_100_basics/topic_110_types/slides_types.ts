// j2 from 'macros.j2' import header
// {{ header("Typen", "Types") }}

// %% [markdown] lang="de" tags=["subslide"]
//
// ## Arrays und Objekte

// %% [markdown] lang="en" tags=["subslide"]
//
// ## Arrays and objects

// %%
const primes: number[] = [2, 3, 5, 7];
primes.map((p) => p * p)

// %%
interface Point {
  x: number;
  y: number;
}
const origin: Point = { x: 0, y: 0 };
JSON.stringify(origin)

// %% [markdown] lang="de"
//
// Ein Fehler zur Laufzeit:

// %% [markdown] lang="en"
//
// An error at run time:

// %% tags=["raises-exception"]
JSON.parse("{not json")
