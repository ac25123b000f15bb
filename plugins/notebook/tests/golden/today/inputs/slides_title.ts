// j2 from 'macros.j2' import header
// {{ header("Typen in TypeScript", "Types in TypeScript") }}

// %% [markdown] lang="de" tags=["slide"]
// ## Überschrift

// %% [markdown] lang="en" tags=["slide"]
// ## Heading

// %% tags=["keep"]
const answer: number = 42;

// %%
console.log(answer);
