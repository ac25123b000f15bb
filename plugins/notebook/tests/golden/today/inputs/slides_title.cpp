// j2 from 'macros.j2' import header
// {{ header("Zeiger in C++", "Pointers in C++") }}

// %% [markdown] lang="de" tags=["slide"]
// ## Überschrift

// %% [markdown] lang="en" tags=["slide"]
// ## Heading

// %% tags=["keep"]
#include <iostream>

// %%
int answer = 42;
std::cout << answer;
