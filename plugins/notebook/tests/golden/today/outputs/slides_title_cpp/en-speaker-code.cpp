// %% [markdown]
//
// <div style="text-align:center; font-size:200%;">
//   <b>Pointers in C++</b>
// </div>
// <br/>
// <div style="text-align:center;">Ada Lovelace</div>
// <br/>


// %% [markdown]
// ## Heading

// %%
#include <iostream>

// %%
int answer = 42;
std::cout << answer;
