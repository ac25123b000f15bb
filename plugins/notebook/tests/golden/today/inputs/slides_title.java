// j2 from 'macros.j2' import header
// {{ header("Ausnahmen in Java", "Exceptions in Java") }}

// %% [markdown] lang="de" tags=["slide"]
// ## Überschrift

// %% [markdown] lang="en" tags=["slide"]
// ## Heading

// %% tags=["keep"]
int answer = 42;

// %%
System.out.println(answer);
