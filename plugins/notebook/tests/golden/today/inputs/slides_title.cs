// j2 from 'macros.j2' import header
// {{ header("Eigenschaften in C#", "Properties in C#") }}

// %% [markdown] lang="de" tags=["slide"]
// ## Überschrift

// %% [markdown] lang="en" tags=["slide"]
// ## Heading

// %% tags=["keep"]
using System;

// %%
Console.WriteLine(42);
