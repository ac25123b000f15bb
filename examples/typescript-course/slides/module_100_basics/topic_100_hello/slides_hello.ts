// j2 from 'macros.j2' import header
// {{ header("Hallo, TypeScript!", "Hello, TypeScript!") }}

// %% [markdown] lang="de" tags=["subslide"]
//
// ## Die erste Ausgabe
//
// `console.log()` schreibt Text auf die Konsole.

// %% [markdown] lang="en" tags=["subslide"]
//
// ## The first output
//
// `console.log()` writes text to the console.

// %% tags=["keep"]
console.log("Hello, TypeScript!");

// %% [markdown] lang="de"
//
// Der Wert des letzten Ausdrucks wird angezeigt:

// %% [markdown] lang="en"
//
// The value of the last expression is shown:

// %%
const answer: number = 6 * 7;
answer

// %% [markdown] lang="de"
//
// Module neben dem Foliensatz lassen sich importieren:

// %% [markdown] lang="en"
//
// Modules next to the deck can be imported:

// %%
import { greet } from "./greeting.ts";
greet("Ada")
