// -*- coding: utf-8 -*-
// j2 from 'macros.j2' import header
// {{ header("xUnit Fixtures", "xUnit Fixtures EN") }}

// %% [markdown] lang="de" tags=["slide"]
// ## Überschrift

// %% [markdown] lang="en" tags=["slide"]
// ## Heading

// %% tags=["keep"]
using System;

// %%
int x = 1;
