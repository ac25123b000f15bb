// -*- coding: utf-8 -*-
// %% [markdown]
//
// <div style="text-align:center; font-size:200%;">
//  <b>Zeiger in C++</b>
// </div>
// <br/>
// <div style="text-align:center;">Ada Lovelace</div>
// <br/>

// %% [markdown]
// ## Überschrift

// %%
#include <iostream>

// %%
int answer = 42;
std::cout << answer;
